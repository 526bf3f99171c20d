"""Exposure measures and the dark-frame lift, on generated images whose noise and blocks are known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from storelens.exposure import DarkFrameLift, blockiness, measure_exposure, noise_sigma, signal_to_noise
from storelens.stage_messages import Frame

RNG = np.random.default_rng(7)
GRADIENT = np.tile(np.linspace(60, 190, 256), (256, 1))


def noisy(sigma: float) -> np.ndarray:
    return np.clip(GRADIENT + RNG.normal(0, sigma, GRADIENT.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0, 20.0])
def test_noise_estimate_is_close_to_the_noise_added(sigma: float) -> None:
    assert noise_sigma(noisy(sigma)) == pytest.approx(sigma, rel=0.15)


def test_blockiness_grows_as_compression_hardens() -> None:
    image = cv2.GaussianBlur(noisy(15.0), (0, 0), 2.0)
    scores = [blockiness(image)] + [
        blockiness(cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE))
        for q in (95, 70, 30, 10)
    ]
    assert 0.9 <= scores[0] <= 1.1 and scores == sorted(scores) and scores[-1] > 4


def test_usable_and_signal_to_noise_fall_with_noise() -> None:
    faces = [cv2.cvtColor(noisy(s), cv2.COLOR_GRAY2BGR) for s in (1.0, 8.0, 30.0)]
    usable = [measure_exposure(f).usable for f in faces]
    snr = [signal_to_noise(f) for f in faces]
    assert usable[0] == 1.0 and usable[-1] == 0.0
    assert snr[0] > snr[1] > snr[2]
    assert measure_exposure(np.zeros((0, 0, 3), np.uint8)).usable == 0.0


def test_lift_leaves_bright_frames_and_lifts_dark_ones() -> None:
    bright = Frame(cv2.cvtColor(noisy(3.0), cv2.COLOR_GRAY2BGR), "cam", 7)
    assert DarkFrameLift(48).lift(bright) is bright
    dark = Frame((bright.image * 0.15).astype(np.uint8), "cam", 7)
    lifted = DarkFrameLift(48).lift(dark)
    assert lifted is not dark and (lifted.camera_id, lifted.index, lifted.ts) == ("cam", 7, dark.ts)
    assert lifted.image.mean() > 100 > dark.image.mean() + 60
    assert DarkFrameLift(0).lift(dark) is dark  # 0 turns it off
