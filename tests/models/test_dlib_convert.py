"""The dlib ResNet converter: output parity with dlib itself, refusal of anything else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from storelens.errors import ModelError
from storelens.manifest import load_manifest
from storelens.models.dlib_convert import EXPECTED_KINDS, build_onnx, convert, read_dlib_model
from storelens.models.prepare import cache_dir, fetch_origin
from storelens.models.verify import sha256_file
from tests.helpers.dlib_tools import SHAPE_PREDICTOR_5

PHOTOS_FOR_CHIPS = (
    "solvay_conference_1927.jpg",
    "t1.jpg",
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
    "biden.jpg",
    "gauss.png",
    "newton.png",
)


def dat_path() -> Path:
    origin = load_manifest().get("dlib_resnet_v1").origin
    assert origin is not None
    return fetch_origin(origin, cache_dir())


def test_onnx_matches_dlib_on_real_chips(dlib_models, frame_of, dlib_tools) -> None:
    chips = []
    for name in PHOTOS_FOR_CHIPS:
        frame = frame_of(name)
        chips.append(dlib_tools.chips(frame, dlib_models.detector.detect(frame).boxes))
    rgb = np.concatenate(chips)
    assert len(rgb) >= 20
    theirs = dlib_tools.descriptors(rgb)
    ours = dlib_models.embedder.embed_chips(np.ascontiguousarray(rgb[..., ::-1]))  # embedder takes BGR
    cos = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    print(f"{len(rgb)} chips: cosine min {cos.min():.7f} mean {cos.mean():.7f}")
    assert cos.min() >= 0.999, f"chip {int(cos.argmin())} cosine {cos.min()}"


def test_conversion_is_deterministic_and_matches_manifest(tmp_path: Path) -> None:
    out = tmp_path / "dlib.onnx"
    net = convert(dat_path(), out)
    spec = load_manifest().get("dlib_resnet_v1")
    assert sha256_file(out) == spec.sha256
    assert net.chip_size == spec.input_size[0] == 150
    assert np.allclose(net.input_mean, spec.mean)
    assert [layer.kind for layer in net.layers] == EXPECTED_KINDS


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda t: _write(t, "empty.dat", b""), "file ends early"),
        (lambda t: _write(t, "text.dat", b"this is not a model\n"), "not a dlib face recognition model"),
        (lambda t: _write(t, "cut.dat", dat_path().read_bytes()[:200_000]), "file ends early"),
        (lambda t: fetch_origin(SHAPE_PREDICTOR_5, cache_dir()), "not a dlib face recognition model"),
        (lambda t: _write(t, "other.dat", b"\x01\x01\x01\x09loss_mmod"), "missing loss_metric_2 header"),
        (lambda t: t / "absent.dat", "cannot read"),
    ],
    ids=["empty", "text", "truncated", "shape-predictor", "other-loss", "absent"],
)
def test_reader_refuses_other_files(tmp_path: Path, make, reason: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ModelError, match=reason) as err:
        read_dlib_model(path)
    assert str(path) in str(err.value)


def test_builder_refuses_another_architecture() -> None:
    net = read_dlib_model(dat_path())
    fewer = dataclasses.replace(net, layers=net.layers[:-3] + net.layers[-2:])
    with pytest.raises(ModelError, match="unknown dlib architecture"):
        build_onnx(fewer)
