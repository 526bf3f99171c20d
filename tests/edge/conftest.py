"""Edge fixtures: the sample video, its members enrolled, a real Mosquitto, configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gallery.enrol import Enroller, enroll_photos
from gallery.factory import open_gallery
from gallery.records import Consent, MemberInfo
from storelens.config import Config
from tests.helpers.services import Collector, Mosquitto


@pytest.fixture(scope="session")
def members_gallery(face_models, photos, truth, tmp_path_factory) -> Path:
    """A gallery with the scenario's members enrolled (from other photos than the video shows)."""
    directory = tmp_path_factory.mktemp("members") / "gallery"
    config = Config.model_validate({"store": {"id": "s"}, "cameras": [{"id": "c", "source": "x"}],
                                    "gallery": {"dir": str(directory)}})  # fmt: skip
    gallery = open_gallery(config, face_models.recogniser_spec)
    enroller = Enroller(face_models, config.enrolment)
    for m in truth["members"]:
        consent = Consent(reference=f"CF-{m['member_id']}", notice_version="1", purpose="vip-recognition")
        enroll_photos(gallery, enroller, MemberInfo(member_id=m["member_id"], name=m["name"]), consent,
                      [photos[p] for p in m["enrol_photos"]])  # fmt: skip
    gallery.close()
    return directory


@pytest.fixture
def collector(broker: Mosquitto):
    c = Collector(broker.port)
    yield c
    c.stop()


def edge_config(tmp_path: Path, source: str, gallery: Path, broker_url: str, truth: dict[str, Any],
                prepared_models_dir: Path, **edge: Any) -> dict[str, Any]:  # fmt: skip
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
