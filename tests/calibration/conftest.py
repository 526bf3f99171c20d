"""A labelled set from registry photos: obama x3 (genuine pairs), biden and the 29 Solvay faces (impostors)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from edge.messages import Frame
from storelens.images import load_image


@pytest.fixture(scope="session")
def labelled(photos, face_models, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    (root / "obama").mkdir()
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        shutil.copy(photos[name], root / "obama" / name)
    (root / "biden").mkdir()
    shutil.copy(photos["biden.jpg"], root / "biden" / "biden.jpg")
    image = load_image(photos["solvay_conference_1927.jpg"])
    boxes = face_models.detector.detect(Frame(image)).boxes
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masked = image.copy()
        for j, (a, b, c, d) in enumerate(boxes):  # one person per photo: hide the neighbours' faces
            if j != i:
                cv2.rectangle(masked, (int(a), int(b)), (int(c), int(d)), (0, 0, 0), -1)
        pad = cv2.copyMakeBorder(masked, 300, 300, 300, 300, cv2.BORDER_CONSTANT, value=0)
        cx, cy, s = (x1 + x2) / 2 + 300, (y1 + y2) / 2 + 300, 1.25 * (x2 - x1)
        (root / f"solvay_{i:02d}").mkdir()
        cv2.imwrite(
            str(root / f"solvay_{i:02d}" / "face.png"), pad[int(cy - s) : int(cy + s), int(cx - s) : int(cx + s)]
        )
    return root


@pytest.fixture(scope="session")
def small_labelled(labelled, tmp_path_factory) -> Path:
    """Only the face_recognition portraits: obama x3 and biden."""
    root = tmp_path_factory.mktemp("small")
    shutil.copytree(labelled / "obama", root / "obama")
    shutil.copytree(labelled / "biden", root / "biden")
    return root
