"""StoreLens configuration: one pydantic tree loaded from one TOML file, once, and passed explicitly.

A file holding only ``[store] id`` and one ``[[cameras]]`` table with ``id`` and ``source`` is
valid; every other setting has a default. Unknown keys are refused (``extra="forbid"``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from storelens.bounds import IDENT, Pixel
from storelens.errors import ConfigError
from storelens.privacy import PrivacyConfig, PrivacyRules, derive_rules
from storelens.redact import redact


def check_timezone(name: str) -> str:
    """``name`` if it is a known IANA time zone.

    Raises:
        ValueError: an unknown zone, named in the message.
    """
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r} (expected e.g. 'Europe/Paris' or 'UTC')") from exc
    return name


CONFIG_DIR = "config_dir"  # validation context key: the folder of the file being loaded


def beside_config(value: str | None, info: ValidationInfo) -> str | None:
    """A relative path of a config file, resolved against the file's folder (never the current directory).

    Paths in a configuration built in code (no file, so no ``config_dir`` in the context) are left as they are.
    """
    base = info.context.get(CONFIG_DIR) if isinstance(info.context, dict) else None
    if base is None or not value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else Path(base) / path)


def sqlite_beside_config(url: str, info: ValidationInfo) -> str:
    """A ``sqlite:///FILE`` URL whose relative FILE is resolved as :func:`beside_config` does; others unchanged."""
    prefix = "sqlite:///"
    rest = url[len(prefix) :] if url.startswith(prefix) else ""
    if not rest or rest.startswith("/") or rest.startswith(":memory:"):
        return url
    return prefix + str(beside_config(rest, info))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StoreConfig(_Section):
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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)


Point = tuple[Pixel, Pixel]  # finite: nan or inf in a line or ROI is refused


class EntryLine(_Section):
    """A line across the entrance; crossing it towards ``inside`` is an entry."""

    start: Point = Field(description="One end of the line, (x, y) in frame pixels")
    end: Point = Field(description="The other end, (x, y) in frame pixels")
    inside: Point = Field(description="Any point on the store side of the line, (x, y) in frame pixels")

    def inside_side(self) -> float:
        """Which side of the line (from ``start`` to ``end``) the store is on: the sign of the cross product.

        Positive: ``inside`` lies on the right-hand side of start -> end as seen on screen (image y points
        down); negative: on the left-hand side. Counting (``EntryCounter``) and the calibration drawing
        both read it here.
        """
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        return dx * (self.inside[1] - self.start[1]) - dy * (self.inside[0] - self.start[0])

    @model_validator(mode="after")
    def _geometry(self) -> EntryLine:
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        if dx * dx + dy * dy < 1.0:
            raise ValueError("the entry line has zero length")
        if abs(self.inside_side()) < 1e-6:
            raise ValueError("the inside point lies on the entry line; put it on the store side")
        return self


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Proper intersection of two segments (touching at an end point does not count)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def self_intersects(polygon: list[Point]) -> bool:
    """Whether any two non-adjacent edges of a closed polygon cross.

    Written here rather than taking a geometry library for one check of a few points.
    """
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:  # first and last edges share a vertex
                continue
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False


class CameraConfig(_Section):
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

    @model_validator(mode="after")
    def _geometry(self) -> CameraConfig:
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


class EdgeConfig(_Section):
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
    embed_interval_seconds: float = Field(
        default=0.3, ge=0, le=10, description="Least time between two embedding attempts on one track"
    )
    min_face_quality: float = Field(
        default=0.2, ge=0, le=1, description="Faces of lower quality (size x sharpness x pose x score) are not embedded"
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


class MqttConfig(_Section):
    """The MQTT broker events go to."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[^/:]+(:\d+)?/?$",
        description="mqtt://host:port or mqtts://host:port (TLS)",
    )
    username: str | None = Field(default=None)
    password: SecretStr | None = Field(default=None, description="Kept as a secret: never printed or logged")
    password_file: str | None = Field(
        default=None,
        description="A file holding the password (e.g. what `storelens deploy hq-broker` wrote), instead of password",
    )
    _password_beside_config = field_validator("password_file")(beside_config)

    @model_validator(mode="after")
    def _one_password(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("password and password_file: set one of them, not both")
        return self

    def secret(self) -> str | None:
        """The password, from ``password`` or read from ``password_file`` (first line).

        Raises:
            ConfigError: the password file cannot be read.
        """
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            return None
        try:
            return Path(self.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file: {self.password_file}: {exc.strerror or exc}") from exc

    ca_file: str | None = Field(default=None, description="CA bundle for mqtts://")
    cert_file: str | None = Field(default=None, description="Client certificate for mutual TLS")
    key_file: str | None = Field(default=None, description="Client key for mutual TLS")
    _files_beside_config = field_validator("ca_file", "cert_file", "key_file")(beside_config)
    tls_insecure: bool = Field(default=False, description="Skip hostname verification (testing only)")
    keepalive: int = Field(default=30, ge=5, le=3600)


Provider = Literal[
    "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "OpenVINOExecutionProvider"
]


class RuntimeConfig(_Section):
    """ONNX Runtime execution settings."""

    providers: list[Provider] = Field(
        default_factory=lambda: list[Provider](["CPUExecutionProvider"]),
        min_length=1,
        description="Execution providers in order of preference; each must be installed",
    )
    intra_op_threads: int = Field(default=0, ge=0, le=256, description="Threads per operator; 0 = ORT default")
    inter_op_threads: int = Field(default=0, ge=0, le=256, description="Threads across operators; 0 = ORT default")


class ModelsConfig(_Section):
    """Which models to run."""

    dir: str = Field(
        default="", description="Models directory; empty: $STORELENS_MODELS_DIR, else $STORELENS_HOME/models"
    )
    _dir_beside_config = field_validator("dir")(beside_config)
    pack: str = Field(
        default="default",
        description="Model pack: default (YuNet + SFace), scrfd_dlib, or a placed buffalo_l, buffalo_s, antelopev2",
    )
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)


class DetectionConfig(_Section):
    """Face detection settings."""

    score_threshold: float | None = Field(default=None, ge=0.05, le=0.99, description="None: manifest value")
    min_face_px: int = Field(default=24, ge=8, le=2000, description="Faces narrower than this are ignored")


class RecognitionConfig(_Section):
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


class GalleryConfig(_Section):
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


class EnrolmentConfig(_Section):
    """Quality gates and consent defaults for enrolment photos."""

    min_face_px: int = Field(default=60, ge=16, le=4000, description="Minimum face width in pixels")
    min_det_score: float = Field(default=0.6, ge=0.05, le=0.99, description="Minimum detector confidence")
    max_photo_pixels: int = Field(
        default=50_000_000, ge=1_000_000, le=100_000_000, description="Larger photos are refused before decoding"
    )
    min_sharpness: float = Field(
        default=20.0,
        ge=0,
        le=100_000,
        allow_inf_nan=False,
        description="Minimum Laplacian variance of the aligned chip",
    )
    max_yaw: float = Field(default=0.45, gt=0, le=2, description="Max nose offset from the eye midpoint / eye distance")
    pitch_range: tuple[Annotated[float, Field(ge=0, le=3)], Annotated[float, Field(ge=0, le=3)]] = Field(
        default=(0.2, 1.0), description="Allowed eyes-to-nose / eyes-to-mouth, (low, high)"
    )
    notice_version: str = Field(
        default="1", min_length=1, max_length=40, description="Privacy notice version the consent refers to"
    )
    purpose: str = Field(
        default="vip-recognition", min_length=1, max_length=80, description="Purpose recorded with consent"
    )

    @model_validator(mode="after")
    def _ordered(self) -> EnrolmentConfig:
        if self.pitch_range[0] >= self.pitch_range[1]:
            raise ValueError(f"pitch_range: the low end must be below the high end, got {list(self.pitch_range)}")
        return self


class ApiConfig(_Section):
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


class LoggingConfig(_Section):
    """Service logs."""

    level: Literal["debug", "info", "warning", "error"] = Field(default="info")
    json_lines: bool = Field(default=False, description="One JSON object per line instead of plain text")
    file: str = Field(default="", description="Log file (rotated); empty: standard error (journald under systemd)")
    _file_beside_config = field_validator("file")(beside_config)
    max_bytes: int = Field(default=10_000_000, ge=10_000, description="Rotate the file at this size")
    backups: int = Field(default=5, ge=0, le=100, description="Rotated files kept")


class Config(_Section):
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

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} appears twice")
            seen.add(cam.id)
        self.privacy_rules()  # a setting looser than the profile allows is refused here, at load time
        return self

    def privacy_rules(self) -> PrivacyRules:
        """The effective privacy rules (``privacy.profile`` with this configuration's settings)."""
        return derive_rules(
            self.privacy,
            member_retention_days=self.gallery.retention_days,
            access_log_days=self.api.access_log_days,
            recognition_enabled=self.recognition.enabled,
            cameras=[(c.id, c.members_only) for c in self.cameras],
        )

    def min_face_px_for(self, camera: CameraConfig) -> int:
        """The minimum face width in force for ``camera``: its own override, else ``detection.min_face_px``."""
        return camera.min_face_px if camera.min_face_px is not None else self.detection.min_face_px


def default_config(store_id: str = "demo-store", pack: str = "default") -> Config:
    """A configuration with every default (and the model set ``pack``), for commands that run without a file."""
    return Config(
        store=StoreConfig(id=store_id), cameras=[CameraConfig(id="cam1", source="0")], models=ModelsConfig(pack=pack)
    )


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _value_at(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def config_errors(exc: ValidationError, data: dict[str, Any]) -> list[str]:
    """One line per error: path, the value found, and the reason."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        value = _value_at(data, loc)
        err["msg"] = err["msg"].removeprefix("Value error, ")  # pydantic's prefix says nothing to a reader
        if isinstance(value, dict | list) or any("password" in str(part) for part in loc):
            lines.append(f"{_loc(loc)}: {redact(err['msg'])}")  # never echo a section (or a secret) whole
        else:
            lines.append(f"{_loc(loc)}: {redact(err['msg'])} (value: {redact(repr(value))})")
    return lines


class HqApiConfig(_Section):
    """The chain API (tokens: ``storelens hq token create``)."""

    enabled: bool = Field(default=True, description="Serve the chain API from `hq serve`")
    host: str = Field(default="127.0.0.1", description="Address to listen on")
    port: int = Field(default=8090, ge=1, le=65535, description="Port to listen on")


class ChainStore(_Section):
    """One store of the chain, as head office knows it (reports group and rank by these)."""

    id: str = Field(pattern=IDENT, description="The store's id (its boxes' store.id)")
    name: str = Field(default="", max_length=200, description="Human-readable name")
    region: str = Field(default="", max_length=80, description="Region, for regional reports")
    city: str = Field(default="", max_length=80, description="City")
    timezone: str = Field(default="UTC", description="IANA time zone: the store's days in chain reports")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)


class HqConfig(_Section):
    """Head office (``storelens hq serve``): the central broker, PostgreSQL, the chain API."""

    id: str = Field(default="hq", pattern=IDENT, description="This head-office process's name (its MQTT client id)")
    database_url: str = Field(
        default="sqlite:///storelens-hq.sqlite",
        validate_default=True,
        description="SQLAlchemy URL of the chain's database: postgresql+psycopg://USER:PASSWORD@HOST/DB",
    )
    _url_beside_config = field_validator("database_url")(sqlite_beside_config)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="Sales are summed in it")
    shared_group: str | None = Field(
        default=None,
        pattern=IDENT,
        description="Subscribe as a shared subscription of this group ($share/GROUP/...), so that several "
        "head-office processes share the load (MQTT 5 brokers: Mosquitto, EMQX, HiveMQ, RabbitMQ 3.13+)",
    )
    partition_by_month: bool = Field(
        default=True, description="PostgreSQL: the events table partitioned by month (converted once at start)"
    )
    chase_seconds: float = Field(
        default=60.0,
        ge=0.2,
        le=86400,
        description="A member change or erasure a box has not confirmed is sent again after this long",
    )
    stores: list[ChainStore] = Field(
        default_factory=list,
        description="The chain's stores ([[stores]] tables): names, regions, time zones; chain-wide members go "
        "to these and to any store whose events have arrived",
    )
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    api: HqApiConfig = Field(default_factory=HqApiConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="Enrolment at head office: the boxes' pack")
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    enrolment: EnrolmentConfig = Field(default_factory=EnrolmentConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, description="The profile consents are taken under")

    @model_validator(mode="after")
    def _unique_stores(self) -> HqConfig:
        ids = [s.id for s in self.stores]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"stores: {', '.join(twice)} listed twice")
        return self

    def enrolment_config(self) -> Config:
        """A box's configuration with head office's models, enrolment and privacy settings (enrolling here)."""
        return Config(
            store=StoreConfig(id=self.id),
            cameras=[CameraConfig.model_validate({"id": "enrolment", "source": "none"})],
            models=self.models,
            detection=self.detection,
            enrolment=self.enrolment,
            privacy=self.privacy,
        )


def load_hq_config(path: Path) -> HqConfig:
    """Load and validate a head-office TOML file (``[hq]`` keys at the top level, ``[mqtt]``, ``[api]``).

    Raises:
        ConfigError: naming the file and, per error, the field path, value and reason.
    """
    return _load(path, HqConfig)


def load_config(path: Path) -> Config:
    """Load and validate a TOML configuration file.

    Raises:
        ConfigError: naming the file and, per error, the field path, value and reason.
    """
    return _load(path, Config)


M = TypeVar("M", bound=BaseModel)


def _every_section(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with an empty table for each section the file leaves out, so that its defaults are validated too.

    A section left out is otherwise built by its default factory, outside the validation that knows the file's
    folder: its default paths (``storelens-gallery``, ``outbox.sqlite``) would stay relative to the current directory.
    """
    out = dict(data)
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, _Section) and isinstance(out.get(name, {}), dict):
            out[name] = _every_section(kind, out.get(name, {}))
    return out


def _load(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(_every_section(model, data), context={CONFIG_DIR: path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid configuration:\n  " + "\n  ".join(config_errors(exc, data))) from exc
