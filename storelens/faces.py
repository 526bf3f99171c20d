"""Face measures on the ground floor: pose from five keypoints, sharpness, and one quality score.

Enrolment gates each measure on its own (``storelens.gallery.enrol``); tracking folds them into one
score in [0, 1] that weighs each recognition attempt (``storelens.edge.decide``). Both measure here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.exposure import face_exposure
from storelens.stage_messages import Frame

GOOD_FACE_PX = 64.0  # a face this wide or wider counts as full size in the quality score
SHARP_VARIANCE = 300.0  # Laplacian variance of a 64x64 grey crop that counts as fully sharp
MAX_YAW = 0.5  # nose offset from the eye midpoint, in eye distances, at which a face counts as turned away
PITCH_RANGE = (0.15, 1.0)  # eyes-to-nose over eyes-to-mouth: outside, the head is tilted too far


def head_pose(keypoints: NDArray[np.float32]) -> tuple[float, float]:
    """Yaw and pitch estimated from five keypoints.

    Args:
        keypoints: (5, 2) left eye, right eye, nose, left and right mouth corner.

    Returns:
        yaw: nose's horizontal offset from the eye midpoint, in eye distances (0 = frontal);
        pitch: eyes-to-nose over eyes-to-mouth vertical distance (about 0.5 when level).
    """
    left_eye, right_eye, nose, left_mouth, right_mouth = keypoints.astype(np.float64)
    eye_mid = (left_eye + right_eye) / 2
    eye_dist = max(float(np.linalg.norm(right_eye - left_eye)), 1.0)  # under a pixel apart is degenerate
    mouth_mid = (left_mouth + right_mouth) / 2
    yaw = float((nose[0] - eye_mid[0]) / eye_dist)
    pitch = float((nose[1] - eye_mid[1]) / max(float(mouth_mid[1] - eye_mid[1]), 1.0))
    return yaw, pitch


@dataclass(frozen=True)
class FaceQuality:
    """Quality measures of one face.

    Attributes:
        width: box width in pixels.
        score: detector confidence.
        sharpness: variance of the Laplacian of the grey face patch it was measured on.
        yaw: horizontal nose offset from the eye midpoint, in eye distances (0 = frontal).
        pitch: eyes-to-nose over eyes-to-mouth vertical distance (about 0.5 when level).
    """

    width: float
    score: float
    sharpness: float
    yaw: float
    pitch: float


def measure_face(
    patch: NDArray[np.uint8], box: NDArray[np.float32], score: float, keypoints: NDArray[np.float32]
) -> FaceQuality:
    """Measure one face.

    Args:
        patch: (h, w, 3) uint8 BGR image of the face (an aligned chip, or a crop of its box).
        box: (4,) x1, y1, x2, y2 in the frame.
        score: detector confidence.
        keypoints: (5, 2) the face's five points in the frame.
    """
    sharpness = 0.0
    if patch.size:
        sharpness = float(cv2.Laplacian(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())
    yaw, pitch = head_pose(keypoints)
    return FaceQuality(float(box[2] - box[0]), score, sharpness, yaw, pitch)


def face_quality(frame: Frame, box: NDArray[np.float32], score: float, keypoints: NDArray[np.float32]) -> float:
    """How much one face can be trusted for recognition, in [0, 1].

    The product of four factors in [0, 1]: detector confidence, size (width / 64 px), frontalness
    (1 - (yaw / ``MAX_YAW``)^2, at least 0; 0 when the pitch is outside ``PITCH_RANGE``) and sharpness
    (Laplacian variance of the face resized to 64x64 grey, over ``SHARP_VARIANCE``); and 0 outright for a
    face too dark, flat or noisy to judge (``storelens.exposure.Exposure.usable`` of 0): it is not embedded,
    and its track waits for a better one.

    Args:
        frame: the frame the face is in.
        box: (4,) x1, y1, x2, y2.
        score: detector confidence.
        keypoints: (5, 2) the face's five points.

    Returns:
        0 for a face not worth embedding, up to 1 for a large, sharp, frontal, confident face.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    crop = frame.image[max(y1, 0) : max(y2, 1), max(x1, 0) : max(x2, 1)]
    patch = np.asarray(cv2.resize(crop, (64, 64)), np.uint8) if crop.size else crop
    m = measure_face(patch, box, score, keypoints)
    sharp = min(m.sharpness / SHARP_VARIANCE, 1.0)
    frontal = max(0.0, 1.0 - (m.yaw / MAX_YAW) ** 2) if PITCH_RANGE[0] <= m.pitch <= PITCH_RANGE[1] else 0.0
    size = min(max(x2 - x1, 1) / GOOD_FACE_PX, 1.0)
    quality = float(min(max(score, 0.0), 1.0) * size * frontal * sharp)
    if quality > 0 and face_exposure(frame.image, box).usable <= 0:
        return 0.0
    return quality
