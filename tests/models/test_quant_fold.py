"""Folding the int8 block-quantised YuNet and SFace into float32: the same arithmetic as OpenCV DNN's."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.config import RuntimeConfig
from storelens.errors import PrepareError
from storelens.manifest import load_manifest
from storelens.models.prepare import cache_dir, fetch_origin
from storelens.models.quant_fold import _dequantise, fold_file
from storelens.models.runtime import make_session


@pytest.mark.parametrize(
    ("q", "scale", "zero", "axis", "block", "expected"),
    [
        ([4, -2], [0.5], None, 0, 0, [2.0, -1.0]),  # per tensor
        ([[1, 2], [3, 4]], [1.0, 10.0], [0, 1], 0, 0, [[1, 2], [20, 30]]),  # per axis 0
        ([1, 2, 3, 4, 5], [1.0, 2.0, 3.0], [0, 0, 1], 0, 2, [1, 2, 6, 8, 12]),  # blocks of 2, the last one short
        ([[1, 1, 1, 1]], [[2.0, 3.0]], [[0, 1]], 1, 2, [[2, 2, 0, 0]]),  # blocks along axis 1
    ],
)  # fmt: skip
def test_dequantise_table(q, scale, zero, axis, block, expected) -> None:
    got = _dequantise(
        np.array(q, np.int8),
        np.array(scale, np.float32),
        None if zero is None else np.array(zero, np.int8),
        axis,
        block,
    )
    assert got.dtype == np.float32 and np.array_equal(got, np.array(expected, np.float32))


@pytest.mark.parametrize("name", ["yunet_2023mar", "sface_2021dec"])
def test_folded_model_matches_opencv_dnn_on_the_original(name, prepared_models_dir: Path, frame_of) -> None:
    spec = load_manifest().get(name)
    assert spec.origin is not None and spec.origin.converter == "fold_int8"
    original = fetch_origin(spec.origin, cache_dir())  # the int8 file as shipped, run by OpenCV DNN
    net = cv2.dnn.readNetFromONNX(str(original))
    session = make_session(prepared_models_dir / spec.file, RuntimeConfig())
    w, h = spec.input_size
    rng = np.random.default_rng(5)
    real = cv2.resize(frame_of("t1.jpg").image, (w, h)).transpose(2, 0, 1)[None].astype(np.float32)
    inputs = [real, rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32)]
    names = [o.name for o in session.get_outputs()]
    for blob in inputs:
        ours = session.run(names, {session.get_inputs()[0].name: blob})
        net.setInput(blob, session.get_inputs()[0].name)
        theirs = net.forward(names)
        for n, a, b in zip(names, ours, theirs, strict=True):
            assert a.shape == b.shape, n
            assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(b).max())), n


def test_folded_recogniser_takes_a_batch(face_models) -> None:
    chips = np.random.default_rng(1).integers(0, 255, (5, 112, 112, 3), dtype=np.uint8)
    batched = face_models.embedder.embed_chips(chips)
    single = np.concatenate([face_models.embedder.embed_chips(chips[i : i + 1]) for i in range(5)])
    assert batched.shape == (5, 128) and np.allclose(batched, single, atol=1e-5)


@pytest.mark.parametrize("content", [b"", b"not an onnx model", b"\x08\x07" * 100])
def test_fold_refuses_a_file_that_is_not_a_model(content: bytes, tmp_path: Path) -> None:
    src = tmp_path / "bad.onnx"
    src.write_bytes(content)
    with pytest.raises(PrepareError, match=r"bad\.onnx: cannot fold the quantised model"):
        fold_file(src, tmp_path / "out.onnx", dynamic_batch=False)
    assert not (tmp_path / "out.onnx").exists() and not list(tmp_path.glob("*.part"))
