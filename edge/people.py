"""Person detection on ONNX Runtime: NanoDet (COCO, people are class 0), decoded here.

NanoDet's head gives, per stride (8, 16, 32) and grid cell, 80 class scores (already through a sigmoid)
and, per side of the box (left, top, right, bottom), a distribution over ``reg_max + 1`` distances
in units of the stride; the distance is the distribution's expectation (softmax, then the weighted sum),
measured from the cell's centre. No library decodes NanoDet's outputs for ONNX Runtime, so it is
written here (NanoDet's own demos decode the same way); NMS is OpenCV's ``NMSBoxes``.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.edge.detect import letterbox
from storelens.errors import ModelError
from storelens.manifest import ModelSpec
from storelens.stage_messages import Frame, InferenceSession, People

STRIDES = (8, 16, 32)
PERSON = 0  # COCO's class of people
SIDES = 4


class PersonDetector:
    """Finds people's bodies in a frame.

    Args:
        session: an ONNX Runtime session of a person model (injected, see ``storelens.apps.faces``).
        spec: the model's manifest entry (input size, normalisation, thresholds).
        score_threshold: minimum confidence; None takes the manifest's.
    """

    def __init__(self, session: InferenceSession, spec: ModelSpec, score_threshold: float | None = None) -> None:
        if spec.task != "person":
            raise ModelError(f"{spec.name} is a {spec.task} model, not a person detector")
        self.session = session
        self.spec = spec
        self.score_threshold = float(score_threshold if score_threshold is not None else spec.score_threshold or 0.4)
        self.nms = float(spec.nms_threshold or 0.5)
        self._input = session.get_inputs()[0].name
        w, h = spec.input_size
        self._heads: list[tuple[int, str, str]] = []  # (stride, scores output, distances output)
        outputs = {o.name: list(o.shape) for o in session.get_outputs()}
        for stride in STRIDES:
            cells = (w // stride) * (h // stride)
            scores = [n for n, shape in outputs.items() if shape[1:] == [cells, 80]]
            dists = [
                n for n, shape in outputs.items() if shape[1] == cells and shape[2] % SIDES == 0 and shape[2] != 80
            ]
            if len(scores) != 1 or len(dists) != 1:
                raise ModelError(f"{spec.name}: outputs {outputs} are not NanoDet's at stride {stride}")
            self._heads.append((stride, scores[0], dists[0]))

    def decode(self, blob: NDArray[np.float32]) -> People:
        """Run the model on one letterboxed input and decode it.

        Args:
            blob: (1, 3, H, W) float32 input.

        Returns:
            People after NMS, boxes (N, 4) in input pixels.
        """
        names = [n for _, s, d in self._heads for n in (s, d)]
        outs = dict(zip(names, self.session.run(names, {self._input: blob}), strict=True))
        w = self.spec.input_size[0]
        boxes, scores = [], []
        for stride, s_name, d_name in self._heads:
            score = outs[s_name][0, :, PERSON]
            keep = np.flatnonzero(score >= self.score_threshold)
            if not len(keep):
                continue
            dist = outs[d_name][0, keep].reshape(len(keep), SIDES, -1)
            p = np.exp(dist - dist.max(axis=2, keepdims=True))
            p /= p.sum(axis=2, keepdims=True)
            ltrb = (p * np.arange(p.shape[2], dtype=np.float32)).sum(axis=2) * stride
            cols = w // stride
            cy, cx = np.divmod(keep, cols)
            centre = (np.stack([cx, cy], axis=1).astype(np.float32) + 0.5) * stride
            boxes.append(np.concatenate([centre - ltrb[:, :2], centre + ltrb[:, 2:]], axis=1))
            scores.append(score[keep])
        if not boxes:
            return People.empty()
        xyxy = np.concatenate(boxes).astype(np.float32)
        conf = np.concatenate(scores).astype(np.float32)
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        found = cv2.dnn.NMSBoxes(xywh.tolist(), conf.tolist(), self.score_threshold, self.nms)
        keep = np.asarray(found, dtype=np.intp).reshape(-1)
        return People(xyxy[keep], conf[keep])

    def detect(self, frame: Frame) -> People:
        """People in ``frame``.

        Args:
            frame: image (H, W, 3) uint8 BGR.

        Returns:
            People sorted by descending score: boxes (N, 4) in frame pixels, clipped to it, scores (N,).
        """
        blob, scale = letterbox(frame.image, self.spec)
        found = self.decode(blob)
        w, h = frame.size
        boxes = np.clip(found.boxes / scale, 0, [w, h, w, h]).astype(np.float32)
        order = np.argsort(-found.scores, kind="stable")
        return People(boxes[order], found.scores[order])
