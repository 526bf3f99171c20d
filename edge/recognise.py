"""Face embedding: align each detected face, run the recogniser, L2-normalise."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from storelens.edge.align import align_faces
from storelens.errors import ModelError
from storelens.manifest import ModelSpec
from storelens.stage_messages import Detections, Embeddings, Frame, InferenceSession


class FaceEmbedder:
    """Turns detected faces into unit-length descriptors.

    Args:
        session: a session of a recognition model (injected: ONNX Runtime, or OpenCV DNN where measured faster).
        spec: the model's manifest entry (input size, mean, std, colour order, alignment).
        batch: faces per inference call.
    """

    def __init__(self, session: InferenceSession, spec: ModelSpec, batch: int = 32) -> None:
        if spec.task != "recognition":
            raise ModelError(f"{spec.name} is a {spec.task} model, not a recogniser")
        self.spec = spec
        self.session = session
        self.batch = batch
        inp = session.get_inputs()[0]
        self._input = inp.name
        self._fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self._mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Descriptors for aligned chips.

        Args:
            chips: (N, h, w, 3) uint8 BGR chips at the model's input size.

        Returns:
            (N, D) float32 L2-normalised descriptors.
        """
        d = int(self.spec.embedding_size or 0)
        if len(chips) == 0:
            return np.zeros((0, d), np.float32)
        x = chips[..., ::-1] if self.spec.colour_order == "RGB" else chips
        blob = (x.transpose(0, 3, 1, 2).astype(np.float32) - self._mean) / self._std
        step = self._fixed_batch or self.batch
        outs = [self.session.run(None, {self._input: blob[i : i + step]})[0] for i in range(0, len(blob), step)]
        vecs = np.concatenate(outs).astype(np.float32)
        if vecs.shape != (len(chips), d):
            raise ModelError(f"{self.spec.name}: output {vecs.shape}, manifest expects (N, {d})")
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    def embed(self, frame: Frame, faces: Detections) -> Embeddings:
        """Descriptors for every face in ``faces``.

        Args:
            frame: the frame the faces were found in.
            faces: N detections with keypoints (N, 5, 2).

        Returns:
            Embeddings with vectors (N, D).
        """
        return Embeddings(self.embed_chips(self.chips(frame, faces)), self.spec.name)

    def chips(self, frame: Frame, faces: Detections) -> NDArray[np.uint8]:
        """Chips aligned for this recogniser.

        Args:
            frame: the frame the faces were found in.
            faces: N detections with keypoints (N, 5, 2).

        Returns:
            (N, h, w, 3) uint8 BGR chips at the model's input size.
        """
        return align_faces(frame.image, faces.keypoints, self.spec)
