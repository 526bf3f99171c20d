"""One face path from pixels to faces ready to decide, the same for every entry point.

dark-frame lift -> detection -> quality and exposure gate (per face) -> alignment -> embedding (the mirrored
face averaged in when the recogniser's manifest entry asks). The edge pipeline, ``faces detect | compare``,
``gallery enroll | identify | import``, the store API's enrolment and photo check, head office's enrolment,
calibration and the bench all call :class:`FacePath`, so the same pixels give the same embedding and the
same verdict everywhere.

The subject of a photo (:func:`choose_subject`): the face that clearly dominates it by size and nearness
to the centre, the others ignored; where none dominates there is no subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from storelens.config import DetectionConfig, EnrolmentConfig
from storelens.exposure import DarkFrameLift
from storelens.faces import face_quality
from storelens.manifest import ModelSpec
from storelens.stage_messages import Detections, Embeddings, FaceModels, Frame


@dataclass(frozen=True)
class SubjectRule:
    """When one face is the subject of a photo (``enrolment.subject_dominance``, ``enrolment.subject_centre_weight``).

    A face's weight is its width times (1 - ``centre_weight`` x its centre's distance from the photo's centre,
    over half the photo's diagonal). The heaviest face is the subject when its weight is at least ``dominance``
    times the next one's.

    Attributes:
        dominance: how many times the next face's weight the subject's must be (>= 1).
        centre_weight: how much distance from the centre lowers a face's weight, in [0, 1).
    """

    dominance: float
    centre_weight: float

    def __post_init__(self) -> None:
        if not self.dominance >= 1.0:
            raise ValueError(f"SubjectRule.dominance: expected at least 1, got {self.dominance}")
        if not 0.0 <= self.centre_weight < 1.0:
            raise ValueError(f"SubjectRule.centre_weight: expected 0 to under 1, got {self.centre_weight}")


def subject_rule(enrolment: EnrolmentConfig) -> SubjectRule:
    """The rule of ``enrolment.subject_dominance`` and ``enrolment.subject_centre_weight`` (applied here only)."""
    return SubjectRule(enrolment.subject_dominance, enrolment.subject_centre_weight)


def subject_weights(boxes: NDArray[np.float32], size: tuple[int, int], centre_weight: float) -> NDArray[np.float64]:
    """Each face's weight as the subject of a photo (:class:`SubjectRule`).

    Args:
        boxes: (N, 4) x1, y1, x2, y2 face boxes.
        size: the photo's (width, height) in pixels.
        centre_weight: how much distance from the centre lowers a weight, in [0, 1).

    Returns:
        (N,) float64 weights, in pixels.
    """
    w, h = size
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1).astype(np.float64)
    half_diagonal = max(float(np.hypot(w, h)) / 2, 1.0)
    off = np.linalg.norm(centres - np.array([w / 2, h / 2]), axis=1) / half_diagonal
    return (boxes[:, 2] - boxes[:, 0]).astype(np.float64) * (1.0 - centre_weight * np.minimum(off, 1.0))


def choose_subject(faces: Detections, size: tuple[int, int], rule: SubjectRule) -> int | None:
    """The row of the face that is the subject of a photo, or None when no face dominates (or there is none).

    Args:
        faces: N faces found in the photo.
        size: the photo's (width, height).
        rule: when a face dominates.
    """
    if len(faces) == 0:
        return None
    weights = subject_weights(faces.boxes, size, rule.centre_weight)
    order = np.argsort(-weights, kind="stable")
    if len(faces) == 1:
        return int(order[0])
    first, second = float(weights[order[0]]), float(weights[order[1]])
    return int(order[0]) if first >= rule.dominance * max(second, 1e-9) else None


@dataclass(frozen=True)
class Found:
    """Faces the path found in one image, as parallel columns of N rows.

    Attributes:
        frame: the image as analysed (lifted when it was dark).
        faces: N faces with their keypoints.
        quality: (N,) float32 in [0, 1] (``storelens.faces.face_quality``); 0: too dark, flat or noisy to judge,
            or turned away: not worth deciding on.
    """

    frame: Frame
    faces: Detections
    quality: NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.quality.shape != (len(self.faces),) or self.quality.dtype != np.float32:
            raise ValueError(f"Found.quality: expected float32 of shape ({len(self.faces)},), got {self.quality.shape}")

    def __len__(self) -> int:
        return len(self.faces)


class FacePath:
    """Pixels to faces ready to decide: lift, detect, judge, align, embed.

    Args:
        models: the detector and embedder.
        lift: lifts dark images first (``detection.lift_dark_below``); one per camera (it keeps the camera's last
            brightness for its metrics).
    """

    def __init__(self, models: FaceModels, lift: DarkFrameLift) -> None:
        self.models = models
        self.lift = lift
        self.mirror = bool(models.recogniser_spec.mirror_average)

    @property
    def recogniser(self) -> ModelSpec:
        """The recogniser's manifest entry (its name is the embeddings' model)."""
        return self.models.recogniser_spec

    def prepare(self, frame: Frame) -> Frame:
        """``frame``, lifted when dark (everything after reads the lifted image)."""
        return self.lift.lift(frame)

    def detect(self, frame: Frame) -> Detections:
        """Faces and their five keypoints in a prepared frame."""
        return self.models.detector.detect(frame)

    def quality(self, frame: Frame, faces: Detections) -> NDArray[np.float32]:
        """(N,) float32 quality of each face in [0, 1] (``storelens.faces.face_quality``; 0: not to decide on)."""
        return np.array([self.quality_of(frame, faces, i) for i in range(len(faces))], np.float32)

    def quality_of(self, frame: Frame, faces: Detections, row: int) -> float:
        """The quality of face ``row`` of ``faces`` in [0, 1] (the edge judges only the faces it may embed)."""
        return face_quality(frame, faces.boxes[row], float(faces.scores[row]), faces.keypoints[row])

    def find(self, frame: Frame) -> Found:
        """Lift, detect and judge every face of one image."""
        frame = self.prepare(frame)
        faces = self.detect(frame)
        return Found(frame, faces, self.quality(frame, faces))

    def chips(self, frame: Frame, faces: Detections) -> NDArray[np.uint8]:
        """(N, h, w, 3) uint8 BGR chips aligned for the recogniser."""
        return self.models.embedder.chips(frame, faces)

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Descriptors of aligned chips, the mirrored chip averaged in when the manifest asks.

        Args:
            chips: (N, h, w, 3) uint8 BGR aligned chips.

        Returns:
            (N, D) float32 L2-normalised descriptors.
        """
        vecs = self.models.embedder.embed_chips(chips)
        if not self.mirror or len(chips) == 0:
            return vecs
        both = vecs + self.models.embedder.embed_chips(np.ascontiguousarray(chips[:, :, ::-1]))
        return (both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def embed(self, frame: Frame, faces: Detections) -> Embeddings:
        """Embeddings (N, D) of ``faces`` in a prepared frame."""
        return Embeddings(self.embed_chips(self.chips(frame, faces)), self.recogniser.name)


def face_path(models: FaceModels, detection: DetectionConfig) -> FacePath:
    """A face path whose dark images are lifted below ``detection.lift_dark_below`` (applied here only)."""
    return FacePath(models, DarkFrameLift(detection.lift_dark_below))
