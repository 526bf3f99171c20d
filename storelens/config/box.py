"""A store box's configuration (``storelens.toml``): store, cameras, edge, recognition, gallery, API."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from storelens.bounds import IDENT
from storelens.config.geometry import EntryLine, Point, self_intersects
from storelens.config.sections import (
    DetectionConfig,
    EnrolmentConfig,
    LoggingConfig,
    ModelsConfig,
    MqttConfig,
    Section,
    beside_config,
    check_timezone,
    load_toml,
    sqlite_beside_config,
)
from storelens.i18n import LocaleName
from storelens.privacy import PrivacyConfig, PrivacyRules, derive_rules
from storelens.signing import PublicKey


class StoreConfig(Section):
    """The store this box serves."""

    id: str = Field(pattern=IDENT, description="Store identifier, used in MQTT topics and reports")
    name: str = Field(default="", description="Human-readable store name")
    currency: str = Field(
        default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency sales and spend are summed in"
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone (e.g. Europe/Paris) where the store's days and hours begin: "
        "reports, and today's totals on the iPad",
    )

    locale: LocaleName = Field(
        default="en",
        description="CLDR locale (e.g. fr_FR, zh_Hans_CN, en_GB) of what the store's people read: the iPad page, "
        "the console, reports and the sign; its language (English, French, Simplified Chinese) and its dates, "
        "times, numbers and currency",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)


class CameraConfig(Section):
    """One camera."""

    id: str = Field(pattern=IDENT, description="Camera identifier, unique in the store")
    source: str = Field(
        min_length=1, description="rtsp:// URL, video file path (relative: to the config's folder), or camera index"
    )

    @field_validator("source")
    @classmethod
    def _file_beside_config(cls, value: str, info: ValidationInfo) -> str:
        if "://" in value or value.isdigit():
            return value
        return str(beside_config(value, info))

    analysis_fps: float = Field(default=5.0, gt=0, le=60, description="Frames analysed per second")
    roi: list[Point] | None = Field(default=None, description="Region of interest polygon; None: whole frame")
    entry_line: EntryLine | None = Field(default=None, description="Entrance line for footfall; None: no counting")
    role: Literal["count", "recognise", "both"] = Field(
        default="both",
        description="count: people are counted through the entry line and no face is ever looked for; recognise: "
        "faces are recognised and nobody is counted; both",
    )
    door: str | None = Field(
        default=None,
        pattern=IDENT,
        description="The entrance this camera watches; of the cameras on one door, only one may count",
    )
    min_face_px: int | None = Field(default=None, ge=8, le=2000, description="Override of detection.min_face_px")
    members_only: bool = Field(
        default=False,
        description="The camera sees only a space every entrant consented to (a members' lounge): under the eu "
        "profile, only such cameras recognise faces",
    )
    frame_size: tuple[int, int] | None = Field(
        default=None,
        description="(width, height) the camera delivers; when set, the ROI and the entry line must lie inside it",
    )

    @property
    def counts(self) -> bool:
        """Whether this camera counts people through its entry line."""
        return self.role != "recognise" and self.entry_line is not None

    @model_validator(mode="after")
    def _geometry(self) -> CameraConfig:
        if self.role == "count" and self.entry_line is None:
            raise ValueError("role = 'count' needs an entry_line across the entrance")
        if self.role == "recognise" and self.entry_line is not None:
            raise ValueError("role = 'recognise' counts nobody: remove entry_line, or set role = 'both'")
        if self.roi is not None:
            if len(self.roi) < 3:
                raise ValueError("roi needs at least 3 points")
            if self_intersects(self.roi):
                raise ValueError("roi is a self-intersecting polygon; list its corners in order around it")
        if self.frame_size is not None:
            w, h = self.frame_size
            named = [(f"roi point {p}", p) for p in self.roi or []]
            if self.entry_line is not None:
                named += [
                    (f"entry_line.start {self.entry_line.start}", self.entry_line.start),
                    (f"entry_line.end {self.entry_line.end}", self.entry_line.end),
                ]
            for name, (x, y) in named:
                if not (0 <= x <= w and 0 <= y <= h):
                    raise ValueError(f"{name} lies outside the {w}x{h} frame")
        return self


class EdgeConfig(Section):
    """Per-visit decisions of the edge pipeline."""

    arrival_cooldown_minutes: float = Field(
        default=30, ge=0, le=24 * 60, description="One arrival per member per visit"
    )
    visitor_ttl_hours: float = Field(default=12, gt=0, le=72, description="How long an anonymous face is remembered")
    visit_gap_minutes: float = Field(default=10, ge=0, le=24 * 60, description="Absence that starts a new visit")
    visitor_match_threshold: float | None = Field(
        default=None, ge=-1, le=1, description="Same anonymous person; None: the recogniser's (manifest)"
    )
    footfall_interval_minutes: int = Field(default=15, ge=1, le=24 * 60, description="Footfall event interval")
    max_embeddings_per_track: int = Field(default=12, ge=1, le=100, description="Embedding attempts per track")
    motion_gating: bool = Field(
        default=True,
        description="Run the face detector only when something moves in the region of interest, while a track is "
        "alive, or every full_detection_seconds",
    )
    motion_min_share: float = Field(
        default=0.002, gt=0, lt=1, description="Share of the region's pixels that must change to count as motion"
    )
    full_detection_seconds: float = Field(
        default=2.0, ge=0.2, le=60, description="With motion gating, a full detection at least this often"
    )
    embed_interval_seconds: float = Field(
        default=0.3, ge=0, le=10, description="Least time between two embedding attempts on one track"
    )
    min_face_quality: float = Field(
        default=0.2, ge=0, le=1, description="Faces of lower quality (size x sharpness x pose x score) are not embedded"
    )
    embed_better_by: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="A track whose attempts named nobody is embedded again only for a face this much better (quality) "
        "than its best so far",
    )
    doubt_margin: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="A track whose best similarity came within this of the threshold stays in doubt and is embedded "
        "again, paced; None: twice the recogniser's strong margin",
    )
    min_embed_face_px: int = Field(default=32, ge=8, le=2000, description="Faces narrower than this are not embedded")
    min_evidence: float = Field(
        default=1.5, gt=0, le=20, description="Quality-weighted evidence that names a member (one good attempt: ~1)"
    )
    strong_margin: float | None = Field(
        default=None, ge=0, le=1, description="Above threshold+this an attempt counts twice; None: the recogniser's"
    )
    stranger_evidence: float = Field(
        default=3.0, gt=0, le=100, description="'Nobody' evidence that settles a track as a stranger: no more embedding"
    )
    track_lost_seconds: float = Field(default=1.5, gt=0, le=60, description="A track unseen this long has ended")
    line_settle_seconds: float = Field(
        default=0.4,
        ge=0,
        le=10,
        description="A crossing of the entry line counts once the person has stayed this long on the new side "
        "(someone standing on the line is counted once)",
    )
    line_band_px: float = Field(
        default=6.0,
        ge=0,
        le=200,
        description="A crossing must pass a band this many pixels either side of the entry line (a box jittering "
        "across the line is not counted)",
    )
    reconnect_max_seconds: float = Field(default=30, gt=0, le=600, description="Longest wait between reconnects")
    outbox: str = Field(
        default="outbox.sqlite", validate_default=True, description="Persistent event outbox (SQLite file)"
    )
    _outbox_beside_config = field_validator("outbox")(beside_config)
    drain_timeout_seconds: float = Field(
        default=120, ge=0, le=86_400, description="File sources: wait this long for delivery"
    )
    file_realtime: bool = Field(default=False, description="Play file sources at their own speed, as if live")
    metrics_host: str = Field(default="127.0.0.1", description="Address of the /health and /metrics port")
    metrics_port: int = Field(
        default=9108, ge=-1, le=65535, description="/health and /metrics; 0: any free port, -1: off"
    )


class RecognitionConfig(Section):
    """Face recognition on or off, and gallery matching settings (set by `storelens calibrate threshold`)."""

    enabled: bool = Field(
        default=True,
        description="false: count-only. Faces are found and tracked for footfall, and no face is ever embedded: "
        "no VIP is recognised by face (VIP service by phone or member code) and no visitor is re-identified",
    )
    match_threshold: float | None = Field(default=None, ge=-1, le=1, description="Cosine; None: manifest value")
    match_margin: float | None = Field(default=None, ge=0, le=2, description="Best minus second-best member")
    lookalike_threshold: float | None = Field(
        default=None, ge=-1, le=1, description="Enrolment photos this close to another member are refused"
    )


class GalleryConfig(Section):
    """The member gallery: storage, index choice, retention."""

    dir: str = Field(
        default="storelens-gallery",
        validate_default=True,
        description="Gallery directory (FAISS index + SQLite metadata)",
    )
    _dir_beside_config = field_validator("dir")(beside_config)
    keep_photos: bool = Field(default=False, description="Keep enrolment photos (off: only vectors are kept)")
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="Erase members not seen for this long (days); None: the privacy profile's (storelens privacy show)",
    )
    index: Literal["auto", "flat", "ivf"] = Field(default="auto", description="auto: exact when small, IVF when large")
    ivf_min_vectors: int = Field(default=50_000, ge=1000, description="auto switches to IVF from this many vectors")
    ivf_nprobe: int = Field(default=32, ge=1, le=4096, description="IVF lists searched per query")
    near_duplicate: float | None = Field(
        default=None, gt=0, le=1, description="Cosine at which two photos are the same; None: the recogniser's"
    )
    refresh_seconds: float = Field(default=2.0, ge=0, le=3600, description="How often a reader checks for changes")


class ChainConfig(Section):
    """The store's place in a chain: the keys head office signs member changes with, and this box's own."""

    hq_public_keys: list[PublicKey] = Field(
        default_factory=list,
        max_length=4,
        description="Head office's public keys (`storelens hq keys show`); `deploy bridge --hq-public-key` "
        "records one in the gallery folder instead. A member change signed by no trusted key changes nothing",
    )
    key_file: str = Field(
        default="box-signing.key",
        validate_default=True,
        description="This box's Ed25519 key (mode 0600) its receipts are signed with; made by `deploy bridge`",
    )
    _key_beside_config = field_validator("key_file")(beside_config)
    visit_minutes: int = Field(
        default=120,
        ge=1,
        le=1440,
        description="A member's visit: the arrival and this long after it (whether they bought is judged over it); "
        "reported to head office once closed, for members whose consent covers sharing visits",
    )
    report_resend_seconds: float = Field(
        default=30.0,
        ge=0.2,
        le=86400,
        description="What this box reports to head office (an enrolment, an erasure asked here, a retention purge) "
        "is sent again after this long until head office has noted it",
    )

    def keyring_path(self, gallery_dir: str) -> Path:
        """Where the head-office keys this box learned (from ``deploy bridge`` or a rotation) are kept."""
        return Path(gallery_dir) / "hq-keys.json"


class ApiConfig(Section):
    """The store API service."""

    access_log_days: int = Field(
        default=365, ge=1, le=3650, description="How long reads of members' data are kept in the access log"
    )
    tls_cert_file: str | None = Field(default=None, description="PEM certificate: serve HTTPS (with tls_key_file)")
    tls_key_file: str | None = Field(default=None, description="PEM private key of tls_cert_file")
    _tls_beside_config = field_validator("tls_cert_file", "tls_key_file")(beside_config)

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both, or neither")
        return self

    max_upload_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1024 * 1024, le=200 * 1024 * 1024, description="Largest request body (uploads)"
    )
    max_import_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024 * 1024,
        le=8 * 1024 * 1024 * 1024,
        description="Largest zip of photos the console takes for a bulk enrolment",
    )
    max_import_files: int = Field(
        default=5000,
        ge=1,
        le=100_000,
        description="Most entries in that zip (more: storelens gallery import)",
    )
    max_import_unpacked_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        ge=1024 * 1024,
        le=32 * 1024 * 1024 * 1024,
        description="Most bytes that zip may unpack to",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on")
    port: int = Field(default=8080, ge=1, le=65535, description="Port to listen on")
    database_url: str = Field(
        default="sqlite:///storelens-events.sqlite",
        validate_default=True,
        description="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://USER@HOST/DB",
    )
    photos_dir: str = Field(
        default="member-photos", validate_default=True, description="Card photos of members who consented to one"
    )
    _url_beside_config = field_validator("database_url")(sqlite_beside_config)
    _photos_beside_config = field_validator("photos_dir")(beside_config)


class Config(Section):
    """The whole configuration."""

    store: StoreConfig
    cameras: list[CameraConfig] = Field(min_length=1)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    gallery: GalleryConfig = Field(default_factory=GalleryConfig)
    enrolment: EnrolmentConfig = Field(default_factory=EnrolmentConfig)
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    chain: ChainConfig = Field(default_factory=ChainConfig)

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        seen: set[str] = set()
        counting: dict[str, str] = {}
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} appears twice")
            seen.add(cam.id)
            if cam.door is not None and cam.counts:
                if cam.door in counting:
                    raise ValueError(
                        f"cameras {counting[cam.door]!r} and {cam.id!r} both count door {cam.door!r}: a person would "
                        "be counted twice; give one of them role = 'recognise'"
                    )
                counting[cam.door] = cam.id
        self.privacy_rules()  # a setting looser than the profile allows is refused here, at load time
        return self

    def privacy_rules(self) -> PrivacyRules:
        """The effective privacy rules (``privacy.profile`` with this configuration's settings)."""
        return derive_rules(
            self.privacy,
            member_retention_days=self.gallery.retention_days,
            access_log_days=self.api.access_log_days,
            recognition_enabled=self.recognition.enabled,
            cameras=[(c.id, c.members_only) for c in self.cameras if c.role != "count"],
        )

    def recognises(self, camera: CameraConfig) -> bool:
        """Whether ``camera`` looks for faces at all: its role allows it and the privacy rules do."""
        return camera.role != "count" and self.privacy_rules().recognises(camera.id)

    def min_face_px_for(self, camera: CameraConfig) -> int:
        """The minimum face width in force for ``camera``: its own override, else ``detection.min_face_px``."""
        return camera.min_face_px if camera.min_face_px is not None else self.detection.min_face_px


def default_config(store_id: str = "demo-store", pack: str = "default") -> Config:
    """A configuration with every default (and the model set ``pack``), for commands that run without a file."""
    return Config(
        store=StoreConfig(id=store_id), cameras=[CameraConfig(id="cam1", source="0")], models=ModelsConfig(pack=pack)
    )


def load_config(path: Path) -> Config:
    """Load and validate a TOML configuration file.

    Raises:
        ConfigError: naming the file and, per error, the field path, value and reason.
    """
    return load_toml(path, Config)
