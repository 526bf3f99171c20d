"""Faces as a poor store camera delivers them: deterministic degradations of real photos.

Each :class:`Degradation` does to a whole photo what a cheap entrance camera does to a face, in the order the
light meets them: the person stands further away (the photo is shrunk), the lens is out of focus and the person
moves during the exposure (blur), the sensor sees too little light or the street behind the person is far
brighter than the face (gain, backlight), the sensor adds noise, and the encoder compresses (JPEG). OpenCV does
each step; what is written here is only the order and the numbers. Noise is seeded from the photo's name and the
degradation's, so every run degrades every photo the same way.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

BACKLIGHT_BACKGROUND_GAIN = 2.2  # the street behind the person, exposed for the face: mostly clipped white


@dataclass(frozen=True)
class Degradation:
    """One way a camera degrades a face.

    Attributes:
        name: short name used in reports.
        hard: whether it is one of the hard cases (judged on its own) rather than a mild one (judged on average).
        scale: the photo's size factor (0.25: a quarter of the width and height), (0, 1].
        focus_sigma: Gaussian (out-of-focus) blur, in pixels of the shrunk photo; 0 for none.
        motion_px: horizontal motion blur length, in pixels of the shrunk photo; 0 for none.
        gain: brightness factor (0.15: a very dark scene).
        backlight: 0 for none; else the faces' brightness factor (0.3: in shadow) against a clipped, bright
            background, as a camera exposed for the street behind the person delivers them.
        noise_sigma: Gaussian sensor noise, in grey levels (0-255); 0 for none.
        jpeg: JPEG quality 1-100; 0 for none.
    """

    name: str
    hard: bool = False
    scale: float = 1.0
    focus_sigma: float = 0.0
    motion_px: int = 0
    gain: float = 1.0
    backlight: float = 0.0
    noise_sigma: float = 0.0
    jpeg: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 1:
            raise ValueError(f"{self.name}: scale {self.scale} outside (0, 1]")
        if (
            not 0 < self.gain <= 4
            or not 0 <= self.backlight <= 1
            or self.focus_sigma < 0
            or self.motion_px < 0
            or self.noise_sigma < 0
        ):
            raise ValueError(f"{self.name}: gain in (0, 4], backlight in [0, 1], blur and noise >= 0")
        if not 0 <= self.jpeg <= 100:
            raise ValueError(f"{self.name}: JPEG quality {self.jpeg} outside 0-100")

    def apply(self, image: NDArray[np.uint8], face_boxes: NDArray[np.float32] | None, key: str) -> NDArray[np.uint8]:
        """The photo as this camera would deliver it.

        Args:
            image: (H, W, 3) uint8 BGR photo.
            face_boxes: (N, 4) or (4,) x1, y1, x2, y2 of the faces in ``image``, for backlight (the faces stay
                dark, the rest is lit); None when there is no backlight.
            key: the photo's name: seeds the noise, so the same photo is degraded the same way every time.

        Returns:
            (h, w, 3) uint8 BGR, h and w the photo's size times ``scale`` (at least 8 pixels).
        """
        out = image.astype(np.float32)
        if self.scale < 1:
            size = (max(8, round(image.shape[1] * self.scale)), max(8, round(image.shape[0] * self.scale)))
            out = np.asarray(cv2.resize(out, size, interpolation=cv2.INTER_AREA), np.float32)
        if self.focus_sigma > 0:
            out = np.asarray(cv2.GaussianBlur(out, (0, 0), self.focus_sigma), np.float32)
        if self.motion_px > 1:
            kernel = np.full((1, self.motion_px), 1.0 / self.motion_px, np.float32)
            out = np.asarray(cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REFLECT), np.float32)
        if self.backlight > 0 and face_boxes is not None:
            boxes = np.asarray(face_boxes, np.float32).reshape(-1, 4) * (out.shape[1] / image.shape[1])
            out = out * self._backlight_gain(out.shape[:2], boxes, self.backlight)
        out = out * self.gain
        if self.noise_sigma > 0:
            seed = zlib.crc32(f"{key}/{self.name}".encode())
            out = out + np.random.default_rng(seed).normal(0.0, self.noise_sigma, out.shape).astype(np.float32)
        result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        if self.jpeg:
            ok, data = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])
            if not ok:
                raise ValueError(f"{self.name}: JPEG encoding failed")
            result = np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)
        return result

    @staticmethod
    def _backlight_gain(shape: tuple[int, ...], boxes: NDArray[np.float32], face_gain: float) -> NDArray[np.float32]:
        """(h, w, 1) gain: each face's ellipse (its box widened by a fifth) dark, the rest bright, soft edges."""
        h, w = shape[0], shape[1]
        mask = np.zeros((h, w), np.float32)
        for x1, y1, x2, y2 in boxes.astype(float):
            centre = (round((x1 + x2) / 2), round((y1 + y2) / 2))
            axes = (max(1, round(0.6 * (x2 - x1))), max(1, round(0.7 * (y2 - y1))))
            cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
        soft = max(1.0, 0.1 * float(np.median(boxes[:, 2] - boxes[:, 0]))) if len(boxes) else 1.0
        mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), soft), np.float32)
        gain = BACKLIGHT_BACKGROUND_GAIN + (face_gain - BACKLIGHT_BACKGROUND_GAIN) * mask
        return np.asarray(gain[:, :, None], np.float32)


# The set the product is measured on (``storelens calibrate degradation``): the list of what store
# cameras do to faces. Mild ones are judged on their average, hard ones each on its own.
DEGRADATIONS: tuple[Degradation, ...] = (
    Degradation("clean"),
    Degradation("size 0.5", scale=0.5),
    Degradation("size 0.3", scale=0.3),
    Degradation("focus blur", focus_sigma=2.0),
    Degradation("motion blur 5 px", motion_px=5),
    Degradation("motion blur 9 px", motion_px=9),
    Degradation("dark x0.35, noise 4", gain=0.35, noise_sigma=4.0),
    Degradation("backlight", backlight=0.3),
    Degradation("JPEG 15", jpeg=15),
    Degradation("size 0.5, blur, JPEG 30", scale=0.5, focus_sigma=1.0, jpeg=30),
    Degradation("size 0.25, blur, JPEG 20", hard=True, scale=0.25, focus_sigma=1.0, jpeg=20),
    Degradation("size 0.15", hard=True, scale=0.15),
    Degradation("motion blur 15 px", hard=True, motion_px=15),
    Degradation("very dark x0.15, noise 10", hard=True, gain=0.15, noise_sigma=10.0),
    Degradation("backlight, noise 6, JPEG 30", hard=True, backlight=0.3, noise_sigma=6.0, jpeg=30),
)
