"""Pipeline messages: one frozen, typed dataclass per message, array fields as parallel columns.

Each ``__post_init__`` checks shapes and dtypes and names the expected shape when they are wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from storelens.manifest import ModelSpec


def _check(name: str, arr: NDArray[np.generic], shape: tuple[int | None, ...], dtype: type) -> None:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array of shape {shape}, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype).name}, got {arr.dtype}")
    if arr.ndim != len(shape) or any(w is not None and w != d for w, d in zip(shape, arr.shape, strict=True)):
        want = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")


@dataclass(frozen=True)
class Frame:
    """One decoded video frame or photo.

    Attributes:
        image: (H, W, 3) uint8 BGR.
        camera_id: camera (or photo path) it came from.
        index: frame number within the source, 0 for a photo.
        ts: capture time, UTC.
    """

    image: NDArray[np.uint8] = field(repr=False)
    camera_id: str = ""
    index: int = 0
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        _check("Frame.image", self.image, (None, None, 3), np.uint8)
        if self.image.shape[0] < 1 or self.image.shape[1] < 1:
            raise ValueError(f"Frame.image: expected at least 1x1 pixels, got {self.image.shape}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class Detections:
    """Faces found in one frame, as parallel columns of N rows.

    Attributes:
        boxes: (N, 4) float32 x1, y1, x2, y2 in frame pixels.
        scores: (N,) float32 detector confidence in [0, 1].
        keypoints: (N, 5, 2) float32 left eye, right eye, nose, left and right mouth corner (x, y).
    """

    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    keypoints: NDArray[np.float32]

    def __post_init__(self) -> None:
        _check("Detections.boxes", self.boxes, (None, 4), np.float32)
        n = self.boxes.shape[0]
        _check("Detections.scores", self.scores, (n,), np.float32)
        _check("Detections.keypoints", self.keypoints, (n, 5, 2), np.float32)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        """No faces."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    def select(self, keep: NDArray[np.bool_] | NDArray[np.intp]) -> Detections:
        """The rows picked by a boolean mask or index array."""
        return Detections(self.boxes[keep], self.scores[keep], self.keypoints[keep])

    @property
    def widths(self) -> NDArray[np.float32]:
        """(N,) box widths in pixels."""
        return self.boxes[:, 2] - self.boxes[:, 0]


@dataclass(frozen=True)
class People:
    """People's bodies found in one frame, as parallel columns of N rows.

    Attributes:
        boxes: (N, 4) float32 x1, y1, x2, y2 in frame pixels.
        scores: (N,) float32 detector confidence in [0, 1].
    """

    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]

    def __post_init__(self) -> None:
        _check("People.boxes", self.boxes, (None, 4), np.float32)
        _check("People.scores", self.scores, (self.boxes.shape[0],), np.float32)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls) -> People:
        """Nobody."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def select(self, keep: NDArray[np.bool_] | NDArray[np.intp]) -> People:
        """The rows picked by a boolean mask or index array."""
        return People(self.boxes[keep], self.scores[keep])


@dataclass(frozen=True)
class Embeddings:
    """Face descriptors for the rows of a :class:`Detections`.

    Attributes:
        vectors: (N, D) float32, each row L2-normalised.
        model: name of the recogniser that made them (vectors of different models never mix).
    """

    vectors: NDArray[np.float32]
    model: str

    def __post_init__(self) -> None:
        _check("Embeddings.vectors", self.vectors, (None, None), np.float32)
        if len(self.vectors):
            norms = np.linalg.norm(self.vectors, axis=1)
            if not np.allclose(norms, 1.0, atol=1e-3):
                raise ValueError("Embeddings.vectors: expected L2-normalised rows")

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def similarity(self, other: Embeddings) -> NDArray[np.float32]:
        """(N, M) cosine similarities between these rows and ``other``'s."""
        if other.model != self.model:
            raise ValueError(f"cannot compare embeddings of {self.model} with {other.model}")
        return (self.vectors @ other.vectors.T).astype(np.float32)


@dataclass(frozen=True)
class Matches:
    """Gallery answers for N embeddings, as parallel columns.

    Attributes:
        member_ids: (N,) the named member per face, or None when no member passes threshold and margin.
        similarities: (N,) float32 best member's cosine similarity (-1 when the gallery is empty).
        runner_up: (N,) float32 second-best member's similarity (-1 when there is none).
        best_ids: (N,) the best member per face whether or not it was named (for calibration and logs).
    """

    member_ids: tuple[str | None, ...]
    similarities: NDArray[np.float32]
    runner_up: NDArray[np.float32]
    best_ids: tuple[str | None, ...]

    def __post_init__(self) -> None:
        n = len(self.member_ids)
        _check("Matches.similarities", self.similarities, (n,), np.float32)
        _check("Matches.runner_up", self.runner_up, (n,), np.float32)
        if len(self.best_ids) != n:
            raise ValueError(f"Matches.best_ids: expected {n} entries, got {len(self.best_ids)}")

    def __len__(self) -> int:
        return len(self.member_ids)


@dataclass(frozen=True)
class Tracks:
    """Tracked people in one frame, and the faces attached to them.

    A person is a body the person detector found, or a face found outside every body (a head and
    shoulders in a close view); a face inside a body belongs to that person.

    Attributes:
        ids: (N,) int64 person track ids (>= 0), one per tracked person.
        boxes: (N, 4) float32 each person's box x1, y1, x2, y2 (the body's, or the face's).
        faces: K detections attached to tracked people (boxes (K, 4), scores (K,), keypoints (K, 5, 2)).
        face_ids: (K,) int64 the person track id of each face, each one of ``ids``.
        frame: the frame they were seen in.
    """

    ids: NDArray[np.int64]
    boxes: NDArray[np.float32]
    faces: Detections
    face_ids: NDArray[np.int64]
    frame: Frame = field(repr=False)

    def __post_init__(self) -> None:
        _check("Tracks.ids", self.ids, (None,), np.int64)
        _check("Tracks.boxes", self.boxes, (len(self.ids), 4), np.float32)
        _check("Tracks.face_ids", self.face_ids, (len(self.faces),), np.int64)
        if not np.isin(self.face_ids, self.ids).all():
            raise ValueError("Tracks.face_ids: every face must belong to one of the frame's tracks")

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def empty(cls, frame: Frame) -> Tracks:
        """Nobody tracked in ``frame``."""
        return cls(
            np.zeros(0, np.int64), np.zeros((0, 4), np.float32), Detections.empty(), np.zeros(0, np.int64), frame
        )


@dataclass(frozen=True)
class TrackOutcomes:
    """What one frame did to one camera's tracks: the one message its footfall reads.

    Attributes:
        ts: the frame's time (timezone-aware).
        ids: (N,) int64 the frame's track ids.
        boxes: (N, 4) float32 their boxes (x1, y1, x2, y2), for the entry line.
        arrivals: VIP arrivals announced on this frame (>= 0).
        ended: (M,) int64 the tracks that ended on this frame.
        people: M entries, one per ended track: who it was (an opaque visitor token), or None for staff.
    """

    ts: datetime
    ids: NDArray[np.int64]
    boxes: NDArray[np.float32]
    arrivals: int = 0
    ended: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    people: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError("TrackOutcomes.ts: expected a timezone-aware time")
        _check("TrackOutcomes.ids", self.ids, (None,), np.int64)
        _check("TrackOutcomes.boxes", self.boxes, (len(self.ids), 4), np.float32)
        _check("TrackOutcomes.ended", self.ended, (None,), np.int64)
        if len(self.people) != len(self.ended):
            raise ValueError(f"TrackOutcomes.people: expected {len(self.ended)} entries, got {len(self.people)}")
        if self.arrivals < 0:
            raise ValueError(f"TrackOutcomes.arrivals: expected >= 0, got {self.arrivals}")


@dataclass(frozen=True)
class MatchPolicy:
    """Every threshold on the recogniser's similarity scale, resolved once (config, else the manifest).

    Attributes:
        threshold: a face is named when its best member similarity is at least this ...
        margin: ... and beats the second-best member by this.
        strong_margin: an attempt at threshold + this counts twice in a track's evidence.
        visitor_match: two anonymous faces this similar are the same stranger.
        near_duplicate: an enrolment photo this similar to a kept one is not stored again.
        lookalike: an enrolment photo this similar to another member is refused.
    """

    threshold: float
    margin: float
    strong_margin: float = 0.0
    visitor_match: float = 1.0
    near_duplicate: float = 1.0
    lookalike: float = 1.0


class Matcher(Protocol):
    """A gallery as the pipeline sees it (``storelens.gallery.gallery.Gallery``)."""

    def match(self, embeddings: Embeddings) -> Matches:
        """The best member (if any passes the policy) for each of N embeddings."""
        ...

    def touch(self, member_id: str, ts: datetime) -> None:
        """Record that ``member_id`` was seen at ``ts`` (retention counts from the last visit)."""
        ...

    def is_staff(self, member_id: str) -> bool:
        """Whether ``member_id`` is on the staff list (never announced, never counted as a visitor)."""
        ...


class Detector(Protocol):
    """A face detector stage (``storelens.edge.detect.FaceDetector``)."""

    def detect(self, frame: Frame) -> Detections:
        """Faces and their five keypoints in ``frame``."""
        ...


class PersonFinder(Protocol):
    """A person detector stage (``storelens.edge.people.PersonDetector``)."""

    def detect(self, frame: Frame) -> People:
        """People's bodies in ``frame``."""
        ...


class Embedder(Protocol):
    """A face recogniser stage (``storelens.edge.recognise.FaceEmbedder``)."""

    def chips(self, frame: Frame, faces: Detections) -> NDArray[np.uint8]:
        """(N, h, w, 3) uint8 BGR chips aligned for the recogniser."""
        ...

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(N, D) float32 L2-normalised descriptors of aligned chips."""
        ...

    def embed(self, frame: Frame, faces: Detections) -> Embeddings:
        """Descriptors (N, D) for every face in ``faces``."""
        ...


class InferenceSession(Protocol):
    """A model session as the stages use it.

    ONNX Runtime's ``InferenceSession``, or the OpenCV DNN adapter (``storelens.models.runtime.OpenCVSession``)
    that offers the same four calls on the same ONNX file.
    """

    def get_inputs(self) -> list[Any]:
        """The model's inputs (``.name``, ``.shape``)."""
        ...

    def get_outputs(self) -> list[Any]:
        """The model's outputs (``.name``, ``.shape``)."""
        ...

    def get_providers(self) -> list[str]:
        """Where it runs, e.g. ``["CPUExecutionProvider"]``."""
        ...

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]:
        """The outputs named (all when None) for the inputs fed."""
        ...


@dataclass(frozen=True)
class FaceModels:
    """The detector and embedder a process uses, with their manifest entries (built by ``storelens.apps.faces``)."""

    detector: Detector
    embedder: Embedder
    detector_spec: ModelSpec
    recogniser_spec: ModelSpec

    @property
    def match_threshold(self) -> float:
        """Cosine similarity above which two faces are the same person (manifest default)."""
        return float(self.recogniser_spec.match_threshold or 0.0)
