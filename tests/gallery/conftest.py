"""Gallery fixtures: a fresh gallery per test, the enroller, and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.config import Config
from storelens.face_path import face_path
from storelens.gallery.enrol import Enroller
from storelens.gallery.factory import open_gallery
from storelens.gallery.gallery import Gallery
from tests.helpers.configs import make_config


@pytest.fixture
def config() -> Config:
    return make_config(refresh_seconds=0)


@pytest.fixture
def gallery(tmp_path: Path, face_models, config: Config) -> Gallery:
    g = open_gallery(config, face_models.recogniser_spec, tmp_path / "gallery")
    yield g
    g.close()


@pytest.fixture
def enroller(face_models, config: Config) -> Enroller:
    return Enroller(face_path(face_models, config.detection), config.enrolment, config.privacy_rules())
