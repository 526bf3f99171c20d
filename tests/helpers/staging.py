"""Frames staged from real registry photos: one face in an empty scene, as small, blurred or hidden as asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from storelens.images import load_image
from storelens.stage_messages import FaceModels, Frame

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
SCENE = (640, 360)


def face_crop(photo: Path, fm: FaceModels) -> np.ndarray:
    """The photo's largest face with as much again around it, as (H, W, 3) uint8 BGR."""
    image = load_image(photo)
    faces = fm.detector.detect(Frame(image))
    x1, y1, x2, y2 = faces.boxes[int(np.argmax(faces.widths))]
    w, h = x2 - x1, y2 - y1
    top, left = max(0, int(y1 - h / 2)), max(0, int(x1 - w / 2))
    return image[top : int(y2 + h / 2), left : int(x2 + w / 2)]


def stage(
    crop: np.ndarray,
    index: int,
    face_px: int,
    blur: float = 0.0,
    turn: float = 0.0,
    occlude: float = 0.0,
    fps: float = 5.0,
) -> Frame:
    """One frame of a 640x360 scene with ``crop`` in the middle, its face ``face_px`` wide.

    Args:
        crop: a face_crop (the face is the middle half of it).
        index: frame number; the time is T0 + index / fps.
        face_px: face width in the frame.
        blur: Gaussian blur sigma in frame pixels (0: sharp).
        turn: squeeze the face horizontally by this fraction, as a head turned away does (0: frontal).
        occlude: cover this fraction of the face from its chin up (a scarf, a raised hand, a shelf).
        fps: analysed frames per second.
    """
    scale = 2 * face_px / crop.shape[1]
    width = max(8, round(crop.shape[1] * scale * (1 - turn)))
    height = max(8, round(crop.shape[0] * scale))
    face = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    if blur > 0:
        face = cv2.GaussianBlur(face, (0, 0), blur)
    if occlude > 0:  # the face is the middle half of the crop: rows height/4 .. 3*height/4
        face = face.copy()
        face[round(height * (0.75 - occlude / 2)) :, :] = (60, 70, 150)
    scene = np.full((SCENE[1], SCENE[0], 3), 90, np.uint8)
    top, left = (SCENE[1] - height) // 2, (SCENE[0] - width) // 2
    scene[max(top, 0) : top + height, max(left, 0) : left + width] = face[max(-top, 0) :, max(-left, 0) :][
        : SCENE[1] - max(top, 0), : SCENE[0] - max(left, 0)
    ]
    return Frame(scene, camera_id="entrance", index=index, ts=T0 + timedelta(seconds=index / fps))
