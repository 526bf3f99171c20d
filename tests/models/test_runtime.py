"""The engine that runs each model: ONNX Runtime or OpenCV DNN on the same file, with the same descriptors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from storelens.config import RuntimeConfig
from storelens.edge.recognise import FaceEmbedder
from storelens.errors import ModelError
from storelens.manifest import load_manifest
from storelens.models.runtime import OpenCVSession, open_session

TOLERANCE = 1e-4  # largest difference of one coordinate of two unit descriptors (measured: about 2e-6)


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("auto", OpenCVSession),  # the manifest names OpenCV DNN for SFace on the CPU, by measurement
        ("onnxruntime", ort.InferenceSession),
        ("opencv", OpenCVSession),
    ],
)
def test_engine_per_setting(engine, expected, prepared_models_dir: Path) -> None:
    spec = load_manifest().get("sface_2021dec")
    session = open_session(prepared_models_dir / spec.file, spec, RuntimeConfig(engine=engine))
    assert isinstance(session, expected)
    detector = load_manifest().get("yunet_2023mar")  # ONNX Runtime measured faster for YuNet: auto keeps it there
    chosen = open_session(prepared_models_dir / detector.file, detector, RuntimeConfig())
    assert isinstance(chosen, ort.InferenceSession)


def test_both_engines_give_the_same_descriptors_on_real_faces(prepared_models_dir: Path, face_models, frame_of) -> None:
    spec = load_manifest().get("sface_2021dec")
    path = prepared_models_dir / spec.file
    frame = frame_of("solvay_conference_1927.jpg")
    faces = face_models.detector.detect(frame)
    assert len(faces) >= 20
    chips = face_models.embedder.chips(frame, faces)
    onnx_side = FaceEmbedder(open_session(path, spec, RuntimeConfig(engine="onnxruntime")), spec).embed_chips(chips)
    opencv_side = FaceEmbedder(open_session(path, spec, RuntimeConfig(engine="opencv")), spec).embed_chips(chips)
    assert onnx_side.shape == opencv_side.shape == (len(faces), 128)
    assert float(np.abs(onnx_side - opencv_side).max()) <= TOLERANCE
    one = FaceEmbedder(OpenCVSession(path), spec).embed_chips(chips[:1])  # a batch of one, as a camera sends
    assert float(np.abs(one[0] - onnx_side[0]).max()) <= TOLERANCE


def test_a_file_opencv_cannot_read_is_one_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"broken\.onnx: OpenCV DNN cannot load it"):
        OpenCVSession(bad)
