"""A labelled set from registry photos: obama x3 (genuine pairs), biden and the 29 Solvay faces (impostors)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from storelens.images import load_image
from storelens.sample_videos.photos import cut_faces
from storelens.stage_messages import Frame


@pytest.fixture(scope="session")
def labelled(photos, face_models, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    (root / "obama").mkdir()
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        shutil.copy(photos[name], root / "obama" / name)
    (root / "biden").mkdir()
    shutil.copy(photos["biden.jpg"], root / "biden" / "biden.jpg")
    image = load_image(photos["solvay_conference_1927.jpg"])
    for i, crop in enumerate(cut_faces(image, face_models.detector.detect(Frame(image)).boxes)):
        (root / f"solvay_{i:02d}").mkdir()
        cv2.imwrite(str(root / f"solvay_{i:02d}" / "face.png"), crop)
    return root


@pytest.fixture(scope="session")
def small_labelled(labelled, tmp_path_factory) -> Path:
    """Only the face_recognition portraits: obama x3 and biden."""
    root = tmp_path_factory.mktemp("small")
    shutil.copytree(labelled / "obama", root / "obama")
    shutil.copytree(labelled / "biden", root / "biden")
    return root
