"""Face detection on ONNX Runtime: YuNet (decoded here) or SCRFD (decoded by insightface's wrapper)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.errors import ModelError
from storelens.extras import require_extra
from storelens.manifest import ModelSpec
from storelens.stage_messages import Detections, Frame, InferenceSession

if TYPE_CHECKING:
    from insightface.model_zoo.scrfd import SCRFD

log = logging.getLogger(__name__)

YUNET_STRIDES = (8, 16, 32)
YUNET_TOP_K = 5000  # as cv2.FaceDetectorYN


class YuNetDecoder:
    """YuNet's anchor-free outputs to boxes, scores and keypoints.

    The arithmetic is OpenCV's ``FaceDetectorYN`` (modules/objdetect/src/face_detect.cpp), which has no
    Python entry point that takes ONNX Runtime's outputs; tests/edge/test_detect.py checks it box for box
    against ``cv2.FaceDetectorYN`` on the original int8 file. NMS is OpenCV's ``NMSBoxes``.

    Args:
        session: ONNX Runtime session of a YuNet model.
        spec: its manifest entry (input size, score and NMS thresholds).
        score_threshold: minimum confidence.
    """

    def __init__(self, session: InferenceSession, spec: ModelSpec, score_threshold: float) -> None:
        self.session = session
        self.spec = spec
        self.score_threshold = score_threshold
        self._input = session.get_inputs()[0].name
        self._names = [o.name for o in session.get_outputs()]
        wanted = {f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in YUNET_STRIDES}
        if set(self._names) != wanted:
            raise ModelError(f"{spec.name}: outputs {sorted(self._names)}, expected YuNet's {sorted(wanted)}")

    def decode(self, blob: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Run the model on one letterboxed input and decode it.

        Args:
            blob: (1, 3, H, W) float32 input.

        Returns:
            boxes (N, 4) x1, y1, x2, y2; scores (N,); keypoints (N, 5, 2), in input pixels, after NMS.
        """
        outs = dict(zip(self._names, self.session.run(self._names, {self._input: blob}), strict=True))
        h, w = blob.shape[2:]
        boxes, scores, kps = [], [], []
        for s in YUNET_STRIDES:
            cols, rows = w // s, h // s
            cls = np.clip(outs[f"cls_{s}"].reshape(-1), 0, 1)
            obj = np.clip(outs[f"obj_{s}"].reshape(-1), 0, 1)
            bbox = outs[f"bbox_{s}"].reshape(-1, 4)
            kp = outs[f"kps_{s}"].reshape(-1, 5, 2)
            r, c = np.divmod(np.arange(rows * cols), cols)
            grid = np.stack([c, r], axis=1).astype(np.float32)
            centre = (grid + bbox[:, :2]) * s
            size = np.exp(bbox[:, 2:]) * s
            boxes.append(np.concatenate([centre - size / 2, size], axis=1))
            scores.append(np.sqrt(cls * obj))
            kps.append((kp + grid[:, None, :]) * s)
        score = np.concatenate(scores).astype(np.float32)
        likely = score >= self.score_threshold  # NMSBoxes drops the rest; it takes Python lists: fewer is faster
        xywh = np.concatenate(boxes)[likely].astype(np.float32)
        points = np.concatenate(kps)[likely].astype(np.float32)
        score = score[likely]
        nms = float(self.spec.nms_threshold or 0.3)
        found = cv2.dnn.NMSBoxes(xywh.tolist(), score.tolist(), self.score_threshold, nms, top_k=YUNET_TOP_K)
        keep = np.asarray(found, dtype=np.intp).reshape(-1)
        xyxy = np.concatenate([xywh[keep, :2], xywh[keep, :2] + xywh[keep, 2:]], axis=1)
        return xyxy.astype(np.float32), score[keep], points[keep]


def letterbox(image: NDArray[np.uint8], spec: ModelSpec) -> tuple[NDArray[np.float32], float]:
    """A model's input: the image scaled to fit, padded at the right and bottom, normalised.

    Args:
        image: (H, W, 3) uint8 BGR.
        spec: the model's manifest entry (input size, colour order, mean and std).

    Returns:
        (1, 3, h, w) float32 blob at the manifest's input size, and the scale applied to the image.
    """
    w, h = spec.input_size
    scale = min(w / image.shape[1], h / image.shape[0])
    nw, nh = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    canvas = np.zeros((h, w, 3), np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # OpenCV's blobFromImage: HWC uint8 to NCHW float32 (and the channel swap) in one pass, a third of numpy's time
    blob = np.asarray(cv2.dnn.blobFromImage(canvas, swapRB=spec.colour_order == "RGB"), np.float32)
    if any(m != 0 for m in spec.mean) or any(d != 1 for d in spec.std):
        blob = (blob - np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)) / np.asarray(
            spec.std, np.float32
        ).reshape(1, 3, 1, 1)
    return np.ascontiguousarray(blob, np.float32), scale


class FaceDetector:
    """Finds faces and their five keypoints in a frame.

    Args:
        session: an ONNX Runtime session of a detection model (injected, see ``storelens.apps.faces``).
        spec: the model's manifest entry; decoder, input size, mean, std and colour order come from it.
        score_threshold: minimum confidence; None takes the manifest's.
    """

    def __init__(
        self,
        session: InferenceSession,
        spec: ModelSpec,
        score_threshold: float | None = None,
    ) -> None:
        if spec.task != "detection":
            raise ModelError(f"{spec.name} is a {spec.task} model, not a detector")
        self.spec = spec
        self.session = session
        threshold = float(score_threshold if score_threshold is not None else spec.score_threshold or 0.5)
        self._yunet: YuNetDecoder | None = None
        self._scrfd: SCRFD | None = None
        if spec.decoder == "yunet":
            self._yunet = YuNetDecoder(session, spec, threshold)
            return
        if len(set(spec.mean)) != 1 or len(set(spec.std)) != 1:
            raise ModelError(f"{spec.name}: SCRFD decoding takes one mean and std for all channels")
        require_extra("scrfd", f"the {spec.name} detector")
        from insightface.model_zoo.scrfd import SCRFD  # the SCRFD set only: insightface is slow to import

        self._scrfd = SCRFD(session=session)
        self._scrfd.input_mean = float(spec.mean[0])
        self._scrfd.input_std = float(spec.std[0])
        self._scrfd.prepare(
            -1 if session.get_providers() == ["CPUExecutionProvider"] else 0,
            input_size=tuple(spec.input_size),
            det_thresh=threshold,
            nms_thresh=spec.nms_threshold,
        )

    def letterbox(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float]:
        """The model's input for ``image`` (see :func:`letterbox`)."""
        return letterbox(image, self.spec)

    def _raw(self, image: NDArray[np.uint8]) -> Detections:
        if self._yunet is not None:
            blob, scale = self.letterbox(image)
            boxes, scores, kps = self._yunet.decode(blob)
            return Detections(boxes / scale, scores, kps / scale)
        if self._scrfd is None:
            raise ModelError(f"{self.spec.name}: no decoder")
        # insightface converts BGR to RGB itself (swapRB); a BGR-trained model gets pre-swapped input.
        if self.spec.colour_order == "BGR":
            image = np.ascontiguousarray(image[:, :, ::-1])
        found, kps = self._scrfd.detect(image, input_size=tuple(self.spec.input_size))
        if found is None or len(found) == 0 or kps is None:
            return Detections.empty()
        return Detections(found[:, :4].astype(np.float32), found[:, 4].astype(np.float32), kps.astype(np.float32))

    def detect(self, frame: Frame) -> Detections:
        """Faces in ``frame``.

        Args:
            frame: image (H, W, 3) uint8 BGR.

        Returns:
            Detections sorted by descending score: boxes (N, 4), scores (N,), keypoints (N, 5, 2).
        """
        dets = self._raw(frame.image)
        order = np.argsort(-dets.scores, kind="stable")
        return dets.select(order)
