"""Edge fixtures: the sample video, its members enrolled, a real Mosquitto, configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.config import Config
from storelens.gallery.factory import open_gallery
from storelens.sample_videos.members import enrol_scenario_members
from tests.helpers.services import Collector, Mosquitto


@pytest.fixture(scope="session")
def members_gallery(face_models, photos, truth, tmp_path_factory) -> Path:
    """A gallery with the scenario's members enrolled (from other photos than the video shows)."""
    directory = tmp_path_factory.mktemp("members") / "gallery"
    config = Config.model_validate(
        {"store": {"id": "s"}, "cameras": [{"id": "c", "source": "x"}], "gallery": {"dir": str(directory)}}
    )
    gallery = open_gallery(config, face_models.recogniser_spec)
    enrol_scenario_members(gallery, face_models, config.enrolment, truth, "vip-recognition")
    gallery.close()
    return directory


@pytest.fixture
def collector(broker: Mosquitto):
    c = Collector(broker.port)
    yield c
    c.stop()
