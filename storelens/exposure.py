"""Light and noise on the ground floor: dark frames lifted before detection, faces' exposure measured.

A store entrance at night gives frames whose faces are a few grey levels above black under sensor noise
of the same size. Measured on the registry's labelled photos degraded that way (brightness x0.15, noise
sigma 10; ``storelens calibrate degradation``), the detector lost most of the 47 faces and no same-person
pair was recognised; smoothing the noise and then stretching the grey levels of the whole frame (what a
camera's own night mode does) lets it find 31 and recognise 12 of 16 same-person pairs, no stranger named. Per-face
normalisation of the aligned chip (CLAHE, gamma, denoising) was measured too and did not help: the
recogniser is indifferent to a face's brightness once the face can be found, and denoising a 112-pixel chip
removed what tells people apart. OpenCV does the filtering; the noise estimate is Immerkaer's (1996), a
fixed 3x3 kernel that no library here exposes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.stage_messages import Frame

# Immerkaer's kernel: the difference of two Laplacians, blind to image structure up to second order.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
MEASURE_WIDTH = 320  # frames are judged for darkness on a copy this wide (cheap, and enough for a mean)
LIFT_SMOOTH_SIGMA = 2.0  # Gaussian sigma, in pixels, against sensor noise before a dark frame is stretched
NOISY_SIGMA = 3.0  # grey levels of estimated noise above which a dark frame is smoothed before it is stretched
LIFT_PERCENTILES = (1.0, 99.0)  # grey levels mapped to black and to LIFT_WHITE
LIFT_WHITE = 235.0


def noise_sigma(grey: NDArray[np.uint8]) -> float:
    """Estimated standard deviation of Gaussian noise in a grey image, in grey levels (Immerkaer 1996).

    Args:
        grey: (H, W) uint8, at least 3x3.

    Returns:
        Sigma; 0 for an image under 3x3.
    """
    h, w = grey.shape[:2]
    if h < 3 or w < 3:
        return 0.0
    response = cv2.filter2D(grey.astype(np.float32), -1, _NOISE_KERNEL)[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2) * np.abs(response).sum() / (6.0 * (w - 2) * (h - 2)))


def blockiness(grey: NDArray[np.uint8]) -> float:
    """How much stronger grey steps are across 8x8 JPEG/H.264 block edges than inside blocks (1: no blocks).

    Args:
        grey: (H, W) uint8 whose top-left corner lies on the encoder's 8x8 grid.

    Returns:
        Mean absolute step across block edges over the mean step elsewhere; 1.0 for an image under 16x16.
    """
    if grey.shape[0] < 16 or grey.shape[1] < 16:
        return 1.0
    steps = np.abs(np.diff(grey.astype(np.float32), axis=1))
    at_edge = steps[:, 7::8].mean()
    inside = np.delete(steps, np.s_[7::8], axis=1).mean()
    return float(at_edge / max(inside, 0.5))


@dataclass(frozen=True)
class Exposure:
    """How a face's pixels were exposed.

    Attributes:
        brightness: mean grey level of the face, 0-255.
        contrast: standard deviation of its grey levels.
        noise: estimated sensor noise sigma, in grey levels.
        blockiness: compression blocks: 1 none, about 1.5 or more clearly visible.
    """

    brightness: float
    contrast: float
    noise: float
    blockiness: float

    @property
    def usable(self) -> float:
        """In [0, 1]: 0 for a face too dark, flat or noisy to judge, 1 for a well-exposed one.

        Structure (contrast above the noise) counts: a face with a contrast of 3 noise sigmas or less carries
        too little to tell people apart; full at 8. A face under 12 grey levels of contrast is flat.
        """
        signal = max(self.contrast - self.noise, 0.0)
        ratio = signal / max(self.noise, 1.0)
        structure = min(max((ratio - 3.0) / 5.0, 0.0), 1.0)
        flat = min(max((self.contrast - 12.0) / 12.0, 0.0), 1.0)
        return structure * flat


def measure_exposure(patch: NDArray[np.uint8]) -> Exposure:
    """Exposure of a face crop.

    Args:
        patch: (h, w, 3) uint8 BGR crop of the face box (its top-left on the frame's 8-pixel grid for blockiness).
    """
    if patch.size == 0:
        return Exposure(0.0, 0.0, 0.0, 1.0)
    grey = np.asarray(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), np.uint8)
    return Exposure(float(grey.mean()), float(grey.std()), noise_sigma(grey), blockiness(grey))


def face_exposure(image: NDArray[np.uint8], box: NDArray[np.float32]) -> Exposure:
    """Exposure of the face at ``box`` in a frame, its crop widened to start on the encoder's 8-pixel grid.

    Args:
        image: (H, W, 3) uint8 BGR frame.
        box: (4,) x1, y1, x2, y2 in frame pixels.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    gx, gy = max(x1, 0) // 8 * 8, max(y1, 0) // 8 * 8  # on the grid, so that blockiness sees the block edges
    return measure_exposure(image[gy : max(y2, 1), gx : max(x2, 1)])


def signal_to_noise(patch: NDArray[np.uint8], width: int = 112) -> float:
    """A face's contrast over its noise, as the recogniser sees it: the crop shrunk to ``width`` pixels first.

    Shrinking averages noise away as the recogniser's own input does, so a large face in a noisy frame scores
    higher than a small one. Under about 3 the face's features are lost in the noise.

    Args:
        patch: (h, w, 3) uint8 BGR crop of a face as the camera delivered it (before any lift).
        width: the recogniser's input width.

    Returns:
        (contrast - noise) / noise, the noise taken as at least one grey level; 0 for an empty crop.
    """
    if patch.size == 0:
        return 0.0
    if patch.shape[1] > width:
        size = (width, max(1, round(patch.shape[0] * width / patch.shape[1])))
        patch = np.asarray(cv2.resize(patch, size, interpolation=cv2.INTER_AREA), np.uint8)
    grey = np.asarray(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), np.uint8)
    noise = max(noise_sigma(grey), 1.0)
    return float((grey.std() - noise) / noise)


def frame_brightness(image: NDArray[np.uint8]) -> float:
    """Mean grey level of a frame, judged on a copy ``MEASURE_WIDTH`` wide.

    Args:
        image: (H, W, 3) uint8 BGR.
    """
    scale = min(1.0, MEASURE_WIDTH / image.shape[1])
    # nearest-neighbour sampling: a mean over ~15,000 samples needs no averaging filter (INTER_AREA cost 1 ms a frame)
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale < 1 else image
    return float(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).mean())


class DarkFrameLift:
    """Lifts dark frames before detection and embedding; leaves every other frame as it is.

    Args:
        dark_mean: frames whose mean grey level is below this are lifted; 0 turns lifting off.
    """

    def __init__(self, dark_mean: float) -> None:
        self.dark_mean = dark_mean
        self.last_brightness: float | None = None  # of the last frame given, for the camera's metrics

    def lift(self, frame: Frame) -> Frame:
        """``frame``, or a lifted copy when it is dark: smoothed when noisy, its grey levels stretched.

        Args:
            frame: image (H, W, 3) uint8 BGR.

        Returns:
            The same frame, or a new one with the same camera, index and time and a (H, W, 3) uint8 image.
        """
        self.last_brightness = frame_brightness(frame.image)
        if self.dark_mean <= 0 or self.last_brightness >= self.dark_mean:
            return frame
        image = frame.image
        grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
        if noise_sigma(grey) >= NOISY_SIGMA:
            image = np.asarray(cv2.GaussianBlur(image, (0, 0), LIFT_SMOOTH_SIGMA), np.uint8)
            grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
        low, high = (float(v) for v in np.percentile(grey, LIFT_PERCENTILES))
        gain = LIFT_WHITE / max(high - low, 1.0)
        lifted = cv2.convertScaleAbs(image, alpha=gain, beta=-low * gain)  # saturating, uint8
        return replace(frame, image=np.asarray(lifted, np.uint8))
