"""Configs and records the tests build: the sample scenario's edge config, TOML files, members, consent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storelens.config import Config, GalleryConfig, default_config
from storelens.gallery.records import Consent, MemberInfo


def edge_config(
    tmp_path: Path,
    source: str,
    gallery: Path,
    broker_url: str,
    truth: dict[str, Any],
    prepared_models_dir: Path,
    **edge: Any,
) -> dict[str, Any]:
    """A config dict for the sample scenario."""
    line = truth["camera"]["entry_line"]
    return {
        "store": {"id": "store-1"},
        "cameras": [{"id": truth["camera"]["id"], "source": source, "entry_line": line}],
        "models": {"dir": str(prepared_models_dir)},
        "gallery": {"dir": str(gallery), "refresh_seconds": 0.5},
        "mqtt": {"url": broker_url},
        "edge": {"outbox": str(tmp_path / "outbox.sqlite"), "drain_timeout_seconds": 60, "metrics_port": 0, **edge},
    }


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(data))
    return path


def consent(ref: str = "CF-2026-0001", **kw: object) -> Consent:
    return Consent(reference=ref, notice_version="2", purpose="vip-recognition", **kw)  # type: ignore[arg-type]


def member(mid: str, name: str = "") -> MemberInfo:
    return MemberInfo(member_id=mid, name=name)


def make_config(**gallery: object) -> Config:
    base = default_config()
    return base.model_copy(update={"gallery": GalleryConfig(**gallery)})  # type: ignore[arg-type]
