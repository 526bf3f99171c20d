"""Shared fixtures: prepared models, registry photos, dlib's own tools (test-only)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.messages import Frame
from models.loader import FaceModels, load_face_models
from models.manifest import Origin, load_manifest, models_dir
from models.prepare import cache_dir, fetch_origin, prepare_all
from storelens.config import default_config
from storelens.images import load_image
from storelens.samples import fetch_group_photos, fetch_photos
from tests.helpers.services import Mosquitto

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"

SHAPE_PREDICTOR_5 = Origin(
    package="face_recognition_models",
    version="0.3.0",
    archive="face_recognition_models-0.3.0.tar.gz",
    archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    member="face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
    member_sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    converter="copy",
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
def dlib_models(prepared_models_dir: Path) -> FaceModels:
    """The earlier default set, SCRFD + dlib ResNet (the ``scrfd_dlib`` pack)."""
    return load_face_models(default_config(pack="scrfd_dlib"), prepared_models_dir)


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    """The sample video's scenario and expected results."""
    from sample_videos.generate import load_truth

    return load_truth()


@pytest.fixture(scope="session")
def video(face_models: FaceModels) -> Path:
    """The sample store-entrance video (generated once, cached)."""
    from sample_videos.generate import sample_video

    return sample_video(face_models)


@pytest.fixture(scope="session")
def frame_of(photos: dict[str, Path]) -> Callable[[str], Frame]:
    cache: dict[str, Frame] = {}

    def get(name: str) -> Frame:
        if name not in cache:
            cache[name] = Frame(load_image(photos[name]), camera_id=name)
        return cache[name]

    return get


class DlibTools:
    """dlib's own shape predictor, chip cutter and descriptor network (dlib-bin, test-only)."""

    def __init__(self) -> None:
        import dlib

        self.dlib = dlib
        spec = load_manifest().get("dlib_resnet_v1")
        assert spec.origin is not None
        self.net = dlib.face_recognition_model_v1(str(fetch_origin(spec.origin, cache_dir())))
        self.shape = dlib.shape_predictor(str(fetch_origin(SHAPE_PREDICTOR_5, cache_dir())))

    def chips(self, frame: Frame, boxes: np.ndarray) -> np.ndarray:
        """dlib's own 150x150 RGB chips (get_face_chip, padding 0.25) for faces at ``boxes`` (N, 4)."""
        rgb = np.ascontiguousarray(frame.image[:, :, ::-1])
        out = []
        for x1, y1, x2, y2 in boxes:
            rect = self.dlib.rectangle(int(x1), int(y1), int(x2), int(y2))
            out.append(self.dlib.get_face_chip(rgb, self.shape(rgb, rect), size=150, padding=0.25))
        return np.stack(out)

    def descriptors(self, chips_rgb: np.ndarray) -> np.ndarray:
        """(N, 128) dlib descriptors of RGB chips."""
        return np.array([self.net.compute_face_descriptor(np.ascontiguousarray(c)) for c in chips_rgb])


@pytest.fixture(scope="session")
def dlib_tools() -> Any:
    return DlibTools()


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """Run the installed ``storelens`` command; returns the CompletedProcess."""
    import os
    import subprocess

    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "storelens.cli", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture
def broker(tmp_path: Path):
    """A Mosquitto of the test's own on a free loopback port, stopped even when the test fails."""
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()
