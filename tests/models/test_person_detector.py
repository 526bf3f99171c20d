"""The person detector: NanoDet converted from its TensorFlow.js graph, checked on real footage and photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.errors import ModelError
from storelens.images import load_image
from storelens.models.tfjs_convert import convert, read_weights
from storelens.sample_videos.real_clips import fetch_clip
from storelens.stage_messages import Frame


def frame_of(video: Path, index: int) -> Frame:
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    assert ok
    return Frame(np.ascontiguousarray(image))


@pytest.mark.parametrize(
    ("index", "walkers"),
    [(100, 7), (300, 8)],  # counted by eye on vtest.avi: people on the walkway, the far lawn's one included
)
def test_people_are_found_on_real_footage(person_detector, index, walkers) -> None:
    found = person_detector.detect(frame_of(fetch_clip("vtest"), index))
    sure = found.select(found.scores >= 0.5)
    assert walkers - 2 <= len(sure) <= walkers + 1, sure.scores
    heights = sure.boxes[:, 3] - sure.boxes[:, 1]
    widths = sure.boxes[:, 2] - sure.boxes[:, 0]
    assert np.all((heights > 30) & (heights < 200)) and np.all(heights > widths)  # upright people, not the scene


def test_a_group_photo_s_people_and_an_empty_frame(person_detector, photos) -> None:
    group = person_detector.detect(Frame(load_image(photos["t1.jpg"])))  # insightface's t1: six people
    assert len(group.select(group.scores >= 0.5)) >= 5
    empty = person_detector.detect(Frame(np.full((720, 1280, 3), 128, np.uint8)))
    assert len(empty) == 0


def _graph(tmp_path: Path, op: str) -> Path:
    weights = np.arange(4, dtype=np.float16)
    (tmp_path / "m.bin").write_bytes(weights.tobytes())
    doc = {
        "format": "graph-model",
        "modelTopology": {"node": [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "1"}, {"size": "4"}]}}}},
            {"name": "w", "op": "Const"},
            {"name": "y", "op": op, "input": ["x", "w"]},
        ]},
        "weightsManifest": [{"paths": ["m.bin"], "weights": [
            {"name": "w", "shape": [4], "dtype": "float32", "quantization": {"dtype": "float16"}}]}],
        "signature": {"outputs": {"y": {"name": "y:0", "tensorShape": {"dim": [{"size": "1"}, {"size": "4"}]}}}},
    }  # fmt: skip
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_converter_runs_what_it_knows_and_names_what_it_does_not(tmp_path: Path) -> None:
    import onnxruntime as ort

    convert(_graph(tmp_path, "AddV2"), tmp_path / "add.onnx")
    session = ort.InferenceSession(str(tmp_path / "add.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": np.ones((1, 4), np.float32)})
    assert out.tolist() == [[1, 2, 3, 4]]  # float16 weights read back as float32: 0, 1, 2, 3 added
    with pytest.raises(ModelError, match="operation Erf"):
        convert(_graph(tmp_path, "Erf"), tmp_path / "erf.onnx")
    assert not (tmp_path / "erf.onnx").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("extra", "message"),
    [(b"\x00\x00", "2 bytes left over"), (None, "ends early")],
)
def test_weights_that_do_not_fit_their_manifest_are_refused(tmp_path: Path, extra, message) -> None:
    path = _graph(tmp_path, "AddV2")
    data = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "m.bin").write_bytes(data + extra if extra is not None else data[:3])
    manifest = json.loads(path.read_text())["weightsManifest"]
    with pytest.raises(ModelError, match=message):
        read_weights(manifest, tmp_path)
