"""Head office's configuration (``hq.toml``): the chain's database, central broker, stores and API."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from storelens.bounds import IDENT
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
from storelens.errors import ConfigError
from storelens.i18n import LocaleName
from storelens.privacy import PrivacyConfig, PrivacyRules, derive_rules

ACCESS_LOG_DAYS = 365  # the box's default: head office keeps no access log, so the profile's bound is what counts


class HqApiConfig(Section):
    """The chain API (tokens: ``storelens hq token create``)."""

    enabled: bool = Field(default=True, description="Serve the chain API from `hq serve`")
    host: str = Field(default="127.0.0.1", description="Address to listen on")
    port: int = Field(default=8090, ge=1, le=65535, description="Port to listen on")


class HqIngestConfig(Section):
    """Where head office takes the stores' events from: the central broker's MQTT, or RabbitMQ's quorum queue."""

    queue: Literal["mqtt", "rabbitmq"] = Field(
        default="mqtt",
        description="mqtt: subscribe on the central broker (a small chain; several processes share a $share "
        "group); rabbitmq: consume a durable quorum queue bound to every store's event topics over AMQP, "
        "shared by any number of workers that come and go (a large chain)",
    )
    amqp_url: str = Field(
        default="amqp://127.0.0.1:5672/",
        pattern=r"^amqps?://[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?(:\d{1,5})?/?$",
        description="RabbitMQ's AMQP listener (amqps:// for TLS with mqtt.ca_file), logged in as mqtt.username "
        "(the same RabbitMQ user); the default virtual host",
    )
    queue_name: str = Field(
        default="storelens-hq-events", pattern=IDENT, description="The quorum queue (declared on first start)"
    )
    batch: int = Field(
        default=1000, ge=1, le=10000, description="Events stored per transaction, acknowledged after its commit"
    )


class CrmConfig(Section):
    """The chain's member platform (CRM/CDP): members' visits delivered to it, and erasures after them."""

    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://[A-Za-z0-9_.-]{1,253}(:\d{1,5})?(/[A-Za-z0-9_.~%/-]{0,500})?$",
        description="Where each visit (and each erasure notice) is POSTed as JSON, signed with HMAC-SHA256; "
        "None: visits are kept for the daily export only",
    )
    secret_file: str | None = Field(
        default=None, description="The webhook's shared HMAC key (first line; at least 32 characters)"
    )
    _secret_beside_config = field_validator("secret_file")(beside_config)
    timeout_seconds: float = Field(default=10.0, ge=0.5, le=120, description="One delivery's answer, at most")
    max_backoff_seconds: float = Field(
        default=600.0, ge=1, le=86400, description="A failed delivery is retried after 1, 2, 4 ... s, at most this"
    )
    export_dir: str | None = Field(
        default=None,
        description="Each UTC day's visits written as visits-YYYY-MM-DD.jsonl here once the day is over "
        "(rewritten without a member erased later)",
    )
    _export_beside_config = field_validator("export_dir")(beside_config)

    @model_validator(mode="after")
    def _signed(self) -> CrmConfig:
        if self.webhook_url is not None and self.secret_file is None:
            raise ValueError("webhook_url needs secret_file: every delivery is signed")
        return self

    def secret(self) -> bytes:
        """The HMAC key.

        Raises:
            ConfigError: the file cannot be read, or the key is shorter than 32 characters.
        """
        if self.secret_file is None:
            raise ConfigError("crm.secret_file is not set")
        try:
            key = Path(self.secret_file).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise ConfigError(f"crm.secret_file: {self.secret_file}: cannot be read") from exc
        if len(key) < 32:
            raise ConfigError(f"crm.secret_file: {self.secret_file}: the key is shorter than 32 characters")
        return key.encode()


class ChainStore(Section):
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


class HqConfig(Section):
    """Head office (``storelens hq serve``): the central broker, PostgreSQL, the chain API."""

    id: str = Field(default="hq", pattern=IDENT, description="This head-office process's name (its MQTT client id)")
    database_url: str = Field(
        default="sqlite:///storelens-hq.sqlite",
        validate_default=True,
        description="SQLAlchemy URL of the chain's database: postgresql+psycopg://USER:PASSWORD@HOST/DB",
    )
    _url_beside_config = field_validator("database_url")(sqlite_beside_config)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="Sales are summed in it")
    locale: LocaleName = Field(
        default="en",
        description="CLDR locale of the head-office console and charts (e.g. zh_Hans_CN, fr_FR, en_GB)",
    )
    timezone: str = Field(
        default="UTC", description="IANA time zone head office reads times in (each store's days stay its own)"
    )

    _known_zone = field_validator("timezone")(check_timezone)

    signing_keys_file: str = Field(
        default="hq-signing-keys.json",
        validate_default=True,
        description="Head office's Ed25519 keys (mode 0600; made on first use): every member change is signed "
        "with the newest; `storelens hq keys rotate` adds one",
    )
    _keys_beside_config = field_validator("signing_keys_file")(beside_config)
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
    ingest: HqIngestConfig = Field(default_factory=HqIngestConfig)
    crm: CrmConfig = Field(default_factory=CrmConfig)
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

    def privacy_rules(self) -> PrivacyRules:
        """The effective privacy rules head office works under: its profile, for consents and event history."""
        return derive_rules(
            self.privacy,
            member_retention_days=None,
            access_log_days=ACCESS_LOG_DAYS,
            recognition_enabled=True,
            cameras=[],
        )


def load_hq_config(path: Path) -> HqConfig:
    """Load and validate a head-office TOML file (``[hq]`` keys at the top level, ``[mqtt]``, ``[api]``).

    Raises:
        ConfigError: naming the file and, per error, the field path, value and reason.
    """
    return load_toml(path, HqConfig)
