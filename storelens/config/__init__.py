"""StoreLens configuration: one pydantic tree loaded from one TOML file, once, and passed explicitly.

A file holding only ``[store] id`` and one ``[[cameras]]`` table with ``id`` and ``source`` is
valid; every other setting has a default. Unknown keys are refused (``extra="forbid"``).

Split by concern: ``box`` (a store box's ``storelens.toml``), ``head_office`` (``hq.toml``), ``geometry``
(entry lines and regions of interest) and ``sections`` (what both share, and the loader). Each name is
imported from here.
"""

from storelens.config.box import (
    ApiConfig,
    CameraConfig,
    ChainConfig,
    Config,
    EdgeConfig,
    GalleryConfig,
    RecognitionConfig,
    StoreConfig,
    default_config,
    load_config,
)
from storelens.config.geometry import (
    EntryLine,
    Point,
    self_intersects,
)
from storelens.config.head_office import (
    ACCESS_LOG_DAYS,
    ChainStore,
    HqApiConfig,
    HqConfig,
    load_hq_config,
)
from storelens.config.sections import (
    CONFIG_DIR,
    DetectionConfig,
    EnrolmentConfig,
    LoggingConfig,
    ModelsConfig,
    MqttConfig,
    Provider,
    RuntimeConfig,
    Section,
    beside_config,
    check_timezone,
    config_errors,
    load_toml,
    sqlite_beside_config,
)

__all__ = [
    "ACCESS_LOG_DAYS",
    "CONFIG_DIR",
    "ApiConfig",
    "CameraConfig",
    "ChainConfig",
    "ChainStore",
    "Config",
    "DetectionConfig",
    "EdgeConfig",
    "EnrolmentConfig",
    "EntryLine",
    "GalleryConfig",
    "HqApiConfig",
    "HqConfig",
    "LoggingConfig",
    "ModelsConfig",
    "MqttConfig",
    "Point",
    "Provider",
    "RecognitionConfig",
    "RuntimeConfig",
    "Section",
    "StoreConfig",
    "beside_config",
    "check_timezone",
    "config_errors",
    "default_config",
    "load_config",
    "load_hq_config",
    "load_toml",
    "self_intersects",
    "sqlite_beside_config",
]
