"""The configuration's shared parts: the section base, paths beside the file, broker, models, logging, loader."""

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

from storelens.errors import ConfigError
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


class Section(BaseModel):
    """A configuration section: unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MqttConfig(Section):
    """The MQTT broker events go to."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?(:\d{1,5})?/?$",
        description="mqtt://host:port or mqtts://host:port (TLS)",
    )
    username: str | None = Field(default=None)
    password: SecretStr | None = Field(default=None, description="Kept as a secret: never printed or logged")
    password_file: str | None = Field(
        default=None,
        description="A file holding the password (e.g. what `storelens deploy hq-broker` wrote), instead of password",
    )
    edge_username: str | None = Field(
        default=None,
        description="The edge's own user on the store broker (`deploy store-broker`: it may publish only its "
        "cameras' topics); None: username",
    )
    edge_password_file: str | None = Field(default=None, description="The password file of edge_username")
    _password_beside_config = field_validator("password_file", "edge_password_file")(beside_config)

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

    def for_edge(self) -> MqttConfig:
        """This broker as the edge logs in to it: as ``edge_username`` when one is set."""
        if self.edge_username is None:
            return self
        return self.model_copy(
            update={"username": self.edge_username, "password": None, "password_file": self.edge_password_file}
        )

    ca_file: str | None = Field(default=None, description="CA bundle for mqtts://")
    cert_file: str | None = Field(default=None, description="Client certificate for mutual TLS")
    key_file: str | None = Field(default=None, description="Client key for mutual TLS")
    _files_beside_config = field_validator("ca_file", "cert_file", "key_file")(beside_config)
    tls_insecure: bool = Field(default=False, description="Skip hostname verification (testing only)")
    keepalive: int = Field(default=30, ge=5, le=3600)


Provider = Literal[
    "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "OpenVINOExecutionProvider"
]


class RuntimeConfig(Section):
    """ONNX Runtime execution settings."""

    providers: list[Provider] = Field(
        default_factory=lambda: list[Provider](["CPUExecutionProvider"]),
        min_length=1,
        description="Execution providers in order of preference; each must be installed",
    )
    intra_op_threads: int = Field(default=0, ge=0, le=256, description="Threads per operator; 0 = ORT default")
    inter_op_threads: int = Field(default=0, ge=0, le=256, description="Threads across operators; 0 = ORT default")
    engine: Literal["auto", "onnxruntime", "opencv"] = Field(
        default="auto",
        description="What runs each model on the CPU: auto, the engine its manifest entry names as measured fastest "
        "(storelens bench --part models); onnxruntime; or opencv (OpenCV DNN, the same ONNX file). With a GPU "
        "provider first, always ONNX Runtime",
    )


class ModelsConfig(Section):
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
    person: str = Field(
        default="nanodet_m_416",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Person detector (a manifest entry of task person), run by cameras that count",
    )


class DetectionConfig(Section):
    """Face and person detection settings."""

    score_threshold: float | None = Field(default=None, ge=0.05, le=0.99, description="None: manifest value")
    person_score_threshold: float | None = Field(
        default=None, ge=0.05, le=0.99, description="Person detector's minimum confidence; None: manifest value"
    )
    min_face_px: int = Field(default=24, ge=8, le=2000, description="Faces narrower than this are ignored")
    lift_dark_below: float = Field(
        default=32.0,
        ge=0,
        le=128,
        allow_inf_nan=False,
        description="Frames darker than this mean grey level (0-255) are smoothed and stretched before detection; "
        "0 turns it off",
    )


class EnrolmentConfig(Section):
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
    subject_dominance: float = Field(
        default=2.0,
        ge=1.2,
        le=10,
        allow_inf_nan=False,
        description="A photo's subject: the face whose width x (1 - centre_weight x distance from the centre / half "
        "the diagonal) is at least this many times the next face's; other faces are ignored, and a photo where no "
        "face dominates is refused",
    )
    subject_centre_weight: float = Field(
        default=0.5,
        ge=0,
        le=0.9,
        allow_inf_nan=False,
        description="How much distance from the centre lowers a face's claim to be the subject",
    )
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


class LoggingConfig(Section):
    """Service logs."""

    level: Literal["debug", "info", "warning", "error"] = Field(default="info")
    json_lines: bool = Field(default=False, description="One JSON object per line instead of plain text")
    file: str = Field(default="", description="Log file (rotated); empty: standard error (journald under systemd)")
    _file_beside_config = field_validator("file")(beside_config)
    max_bytes: int = Field(default=10_000_000, ge=10_000, description="Rotate the file at this size")
    backups: int = Field(default=5, ge=0, le=100, description="Rotated files kept")


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


M = TypeVar("M", bound=BaseModel)


def _every_section(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with an empty table for each section the file leaves out, so that its defaults are validated too.

    A section left out is otherwise built by its default factory, outside the validation that knows the file's
    folder: its default paths (``storelens-gallery``, ``outbox.sqlite``) would stay relative to the current directory.
    """
    out = dict(data)
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, Section) and isinstance(out.get(name, {}), dict):
            out[name] = _every_section(kind, out.get(name, {}))
    return out


def load_toml(path: Path, model: type[M]) -> M:
    """Load and validate ``path`` as ``model`` (relative paths resolved against its folder).

    Raises:
        ConfigError: naming the file and, per error, the field path, value and reason.
    """
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
