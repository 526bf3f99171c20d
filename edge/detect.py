"""Face detection: SCRFD on ONNX Runtime, decoded by insightface's SCRFD wrapper (anchors, NMS)."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
from insightface.model_zoo.scrfd import SCRFD

from edge.messages import Detections, Frame
from models.manifest import ModelSpec
from storelens.errors import ModelError

log = logging.getLogger(__name__)


class FaceDetector:
    """Finds faces and their five keypoints in a frame.

    Args:
        session: an ONNX Runtime session of a detection model (injected, see ``models.loader``).
        spec: the model's manifest entry; input size, mean, std and colour order come from it.
        score_threshold: minimum confidence; None takes the manifest's.
        min_face_px: faces narrower than this many pixels are dropped.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        spec: ModelSpec,
        score_threshold: float | None = None,
        min_face_px: int = 0,
    ) -> None:
        if spec.task != "detection":
            raise ModelError(f"{spec.name} is a {spec.task} model, not a detector")
        if len(set(spec.mean)) != 1 or len(set(spec.std)) != 1:
            raise ModelError(f"{spec.name}: SCRFD decoding takes one mean and std for all channels")
        self.spec = spec
        self.min_face_px = min_face_px
        self._scrfd = SCRFD(session=session)
        self._scrfd.input_mean = float(spec.mean[0])
        self._scrfd.input_std = float(spec.std[0])
        threshold = score_threshold if score_threshold is not None else spec.score_threshold
        self._scrfd.prepare(-1 if session.get_providers() == ["CPUExecutionProvider"] else 0,
                            input_size=tuple(spec.input_size), det_thresh=threshold,
                            nms_thresh=spec.nms_threshold)  # fmt: skip

    def detect(self, frame: Frame) -> Detections:
        """Faces in ``frame``.

        Args:
            frame: image (H, W, 3) uint8 BGR.

        Returns:
            Detections sorted by descending score: boxes (N, 4), scores (N,), keypoints (N, 5, 2).
        """
        image = frame.image
        # insightface converts BGR to RGB itself (swapRB); a BGR-trained model gets pre-swapped input.
        if self.spec.colour_order == "BGR":
            image = np.ascontiguousarray(image[:, :, ::-1])
        boxes, kps = self._scrfd.detect(image, input_size=tuple(self.spec.input_size))
        if boxes is None or len(boxes) == 0 or kps is None:
            return Detections.empty()
        dets = Detections(boxes[:, :4].astype(np.float32), boxes[:, 4].astype(np.float32), kps.astype(np.float32))
        if self.min_face_px > 0:
            dets = dets.select(dets.widths >= self.min_face_px)
        order = np.argsort(-dets.scores, kind="stable")
        return dets.select(order)
