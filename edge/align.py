"""Face alignment: a similarity transform from five detected keypoints to a model's chip.

ArcFace-style models (InsightFace packs, SFace) use the ArcFace 112x112 five-point template, with the
same least-squares similarity transform and warp as insightface's ``norm_crop`` (done here with
scikit-image's estimator, which insightface calls through a deprecated method that warns on every
face). dlib's ResNet uses the template of SCRFD's five
points in dlib's chip that is recorded in the manifest (derived from dlib's own chips).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage.transform import SimilarityTransform

from storelens.errors import ModelError
from storelens.manifest import ModelSpec

# The five points of ArcFace's 112x112 chip: insightface's ``face_align.arcface_dst``, written out because importing
# insightface for ten numbers costs a second of start-up (it loads scipy, scikit-image and more);
# tests/edge/test_alignment.py checks they are insightface's.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32
)


def similarity_matrix(src: NDArray[np.float32], dst: NDArray[np.float32]) -> NDArray[np.float64]:
    """Least-squares similarity transform (Umeyama, via scikit-image) mapping ``src`` onto ``dst``.

    Args:
        src: (5, 2) keypoints in the frame.
        dst: (5, 2) template points in the chip.

    Returns:
        (2, 3) affine matrix for ``cv2.warpAffine``.
    """
    tform = SimilarityTransform.from_estimate(src.astype(np.float64), dst.astype(np.float64))
    if not tform:
        raise ValueError("degenerate keypoints: no similarity transform")
    return np.asarray(tform.params[:2], dtype=np.float64)


def warp_chip(image: NDArray[np.uint8], matrix: NDArray[np.float64], size: tuple[int, int]) -> NDArray[np.uint8]:
    """Cut a chip, shrinking first when the face is much larger than the chip (to avoid aliasing).

    Args:
        image: (H, W, 3) uint8.
        matrix: (2, 3) frame-to-chip transform.
        size: chip (width, height).

    Returns:
        (height, width, 3) uint8 chip.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        factor = 2.0 * scale
        image = np.asarray(cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), np.uint8)
        matrix = matrix.copy()
        matrix[:, :2] /= factor
    chip = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return np.asarray(chip, dtype=np.uint8)


def align_faces(image: NDArray[np.uint8], keypoints: NDArray[np.float32], spec: ModelSpec) -> NDArray[np.uint8]:
    """Aligned chips for every face.

    Args:
        image: (H, W, 3) uint8 BGR frame.
        keypoints: (N, 5, 2) float32.
        spec: the recogniser's manifest entry (alignment kind, template, input size).

    Returns:
        (N, h, w, 3) uint8 BGR chips.
    """
    w, h = spec.input_size
    chips = np.zeros((len(keypoints), h, w, 3), dtype=np.uint8)
    for i, kps in enumerate(keypoints):
        if spec.alignment == "arcface":
            matrix = similarity_matrix(kps, ARCFACE_112 * (w / 112.0))
            chips[i] = np.asarray(cv2.warpAffine(image, matrix, (w, h), borderValue=0.0), np.uint8)
        elif spec.alignment == "template" and spec.template is not None:
            matrix = similarity_matrix(kps, np.asarray(spec.template, dtype=np.float32))
            chips[i] = warp_chip(image, matrix, (w, h))
        else:
            raise ModelError(f"{spec.name}: no alignment for {spec.alignment!r}")
    return chips
