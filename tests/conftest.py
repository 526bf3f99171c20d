"""Shared fixtures: prepared models, registry photos, dlib's own tools (test-only).

The suite tests what ships: ``storelens`` must be the installed wheel, not the tree's folders.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import storelens
from storelens.apps.faces import load_face_models, load_person_detector
from storelens.config import Config, default_config
from storelens.edge.people import PersonDetector
from storelens.gallery.factory import open_gallery
from storelens.images import load_image
from storelens.manifest import models_dir
from storelens.models.prepare import prepare_all
from storelens.sample_videos.members import enrol_scenario_members
from storelens.sample_videos.photos import fetch_group_photos, fetch_photos
from storelens.stage_messages import FaceModels, Frame
from tests.helpers.cli import REPO
from tests.helpers.dlib_tools import DlibTools
from tests.helpers.services import Collector, Mosquitto, Postgres


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run on the tree's source: the suite tests the installed wheel (``make test`` installs it)."""
    where = Path(storelens.__file__).resolve()
    if where.parent == REPO / "storelens" and os.environ.get("STORELENS_TEST_EDITABLE") != "1":
        raise pytest.UsageError(
            f"storelens is imported from the source tree ({where}), not the installed wheel: run `make test` "
            "(it installs the wheel), or set STORELENS_TEST_EDITABLE=1 for a developer's editable loop"
        )


@pytest.fixture(scope="session")
def prepared_models_dir() -> Path:
    """The default models, prepared (idempotent) in the configured models directory."""
    directory = models_dir()
    if not directory.is_absolute():
        directory = REPO / directory
    prepare_all(directory, lambda msg: None)
    return directory


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    """Registry photos by file name."""
    return fetch_photos()


@pytest.fixture(scope="session")
def group_photos() -> dict[str, Path]:
    """The face-api npm package's group photos (people with no names) by file name."""
    return fetch_group_photos()


@pytest.fixture(scope="session")
def face_models(prepared_models_dir: Path) -> FaceModels:
    return load_face_models(default_config(), prepared_models_dir)


@pytest.fixture(scope="session")
def person_detector(prepared_models_dir: Path) -> PersonDetector:
    """The default person detector (NanoDet), for cameras that count."""
    return load_person_detector(default_config(), prepared_models_dir)


@pytest.fixture(scope="session")
def dlib_models(prepared_models_dir: Path) -> FaceModels:
    """The earlier default set, SCRFD + dlib ResNet (the ``scrfd_dlib`` pack)."""
    return load_face_models(default_config(pack="scrfd_dlib"), prepared_models_dir)


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    """The sample video's scenario and expected results."""
    from storelens.sample_videos.generate import load_truth

    return load_truth()


@pytest.fixture(scope="session")
def video(face_models: FaceModels) -> Path:
    """The sample store-entrance video (generated once, cached)."""
    from storelens.sample_videos.generate import sample_video

    return sample_video(face_models)


@pytest.fixture(scope="session")
def frame_of(photos: dict[str, Path]) -> Callable[[str], Frame]:
    cache: dict[str, Frame] = {}

    def get(name: str) -> Frame:
        if name not in cache:
            cache[name] = Frame(load_image(photos[name]), camera_id=name)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def dlib_tools() -> Any:
    return DlibTools()


@pytest.fixture
def broker(tmp_path: Path):
    """A Mosquitto of the test's own on a free loopback port, stopped even when the test fails."""
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def members_gallery(face_models, photos, truth, tmp_path_factory) -> Path:
    """A gallery with the scenario's members enrolled (from other photos than the video shows)."""
    directory = tmp_path_factory.mktemp("members") / "gallery"
    config = Config.model_validate(
        {"store": {"id": "s"}, "cameras": [{"id": "c", "source": "x"}], "gallery": {"dir": str(directory)}}
    )
    gallery = open_gallery(config, face_models.recogniser_spec)
    enrol_scenario_members(gallery, face_models, config, truth, "vip-recognition")
    gallery.close()
    return directory


@pytest.fixture
def collector(broker: Mosquitto):
    c = Collector(broker.port)
    yield c
    c.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    server = Postgres(tmp_path_factory.mktemp("pg")).start()
    yield server
    server.stop()
