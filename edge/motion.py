"""Motion gating: the detector runs only where something moves, while tracks live, or when a full look is due.

A store entrance camera sees nobody for most of the day; running the face detector on every analysed frame
spends the box's CPU on an empty doorway. Like Frigate's motion detector, this compares each frame with the
previous one on a small grey copy (OpenCV's absdiff after a blur) inside the camera's region of interest; the
detector runs when enough of it changed. A full detection still runs every ``full_every`` so that a person
standing still is never lost, and always while a track is alive (the pipeline asks with ``tracks_alive``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.stage_messages import Frame

SMALL_WIDTH = 160  # frames are compared on a grey copy this wide
PIXEL_CHANGE = 15  # grey levels (after a 5x5 blur) that count as a changed pixel


class MotionGate:
    """Says, per frame, whether the detector should run.

    Args:
        min_share: share of the region's pixels that must change between frames to count as motion, (0, 1).
        full_every: a full detection at least this often, motion or not.
        roi: the camera's region of interest in frame pixels, or None for the whole frame.
    """

    def __init__(self, min_share: float, full_every: timedelta, roi: list[tuple[float, float]] | None) -> None:
        self.min_share = min_share
        self.full_every = full_every
        self.roi = roi
        self._previous: NDArray[np.uint8] | None = None
        self._mask: NDArray[np.bool_] | None = None
        self._last_full: datetime | None = None
        self.looked = 0  # frames the detector ran on
        self.skipped = 0  # frames it did not

    def _small(self, frame: Frame) -> NDArray[np.uint8]:
        scale = SMALL_WIDTH / frame.image.shape[1]
        # bilinear, not area-averaged: a tenth of the time (0.06 against 0.6 ms a 720p frame); the blur below smooths
        small = cv2.resize(frame.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        if self._mask is None or self._mask.shape != grey.shape:
            mask = np.ones(grey.shape, np.uint8)
            if self.roi is not None:
                mask[:] = 0
                cv2.fillPoly(mask, [np.round(np.asarray(self.roi, np.float64) * scale).astype(np.int32)], 1)
            self._mask = mask.astype(bool)
        return np.asarray(grey, np.uint8)

    def moved(self, frame: Frame) -> bool:
        """Whether enough of the region changed since the previous frame (the first frame counts as motion)."""
        grey = self._small(frame)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape or self._mask is None:
            return True
        changed = cv2.absdiff(grey, previous) > PIXEL_CHANGE
        return bool(changed[self._mask].mean() >= self.min_share) if self._mask.any() else False

    def wants(self, frame: Frame, tracks_alive: bool) -> bool:
        """Whether to run the detector on ``frame``; every frame must be shown, in order, to judge motion."""
        moved = self.moved(frame)
        due = self._last_full is None or frame.ts - self._last_full >= self.full_every
        if moved or tracks_alive or due:
            self._last_full = frame.ts
            self.looked += 1
            return True
        self.skipped += 1
        return False
