"""The sample video as a poor camera would deliver it: dark and noisy, or backlit (faces dark, the rest bright)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from storelens.calibration.degrade import Degradation
from storelens.stage_messages import FaceModels, Frame

DARK = Degradation("very dark", gain=0.15, noise_sigma=10.0)
BACKLIT = Degradation("backlit", backlight=0.1, noise_sigma=6.0)  # a silhouette against the street


def degraded_video(src: Path, out: Path, how: Degradation, fm: FaceModels, seconds: float) -> Path:
    """Write the first ``seconds`` of ``src`` degraded by ``how`` to ``out`` (MJPEG AVI, quality kept high).

    Backlight needs to know where the faces are: they are found on the clean frame first.
    """
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    try:
        for i in range(int(seconds * fps)):
            ok, image = cap.read()
            if not ok:
                break
            boxes = fm.detector.detect(Frame(image)).boxes if how.backlight > 0 else None
            writer.write(np.ascontiguousarray(how.apply(image, boxes, f"{src.name}/{i}")))
    finally:
        cap.release()
        writer.release()
    return out
