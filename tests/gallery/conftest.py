"""Gallery fixtures: a fresh gallery per test, the enroller, and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.enrol import Enroller
from gallery.factory import open_gallery
from gallery.gallery import Gallery
from gallery.records import Consent, MemberInfo
from storelens.config import Config, GalleryConfig, default_config


def consent(ref: str = "CF-2026-0001", **kw: object) -> Consent:
    return Consent(reference=ref, notice_version="2", purpose="vip-recognition", **kw)  # type: ignore[arg-type]


def member(mid: str, name: str = "") -> MemberInfo:
    return MemberInfo(member_id=mid, name=name)


def make_config(**gallery: object) -> Config:
    base = default_config()
    return base.model_copy(update={"gallery": GalleryConfig(**gallery)})  # type: ignore[arg-type]


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
    return Enroller(face_models, config.enrolment)
