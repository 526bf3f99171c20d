"""The manifest drives loading: unknown or mismatched models are refused; packs are wired."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from insightface.utils import face_align
from onnx import TensorProto, helper, numpy_helper

from storelens.apps.faces import load_face_models
from storelens.config import CameraConfig, Config, ModelsConfig, RuntimeConfig, StoreConfig
from storelens.errors import ModelError
from storelens.manifest import load_manifest
from storelens.models.runtime import make_session
from storelens.models.verify import verify_model_file


def tiny_arcface(path: Path, out_dim: int = 512, seed: int = 0) -> np.ndarray:
    """An ONNX model with ArcFace's signature: (N, 3, 112, 112) -> (N, out_dim). Returns its weight."""
    w = np.random.default_rng(seed).standard_normal((3, out_dim)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["683"]),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", out_dim])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return w


def config_for(pack: str, providers: list[str] | None = None, threads: int = 0) -> Config:
    runtime = RuntimeConfig(providers=providers or ["CPUExecutionProvider"], intra_op_threads=threads)
    return Config(
        store=StoreConfig(id="s1"),
        cameras=[CameraConfig(id="c1", source="0")],
        models=ModelsConfig(pack=pack, runtime=runtime),
    )


def test_unknown_model_and_pack_are_refused() -> None:
    manifest = load_manifest()
    with pytest.raises(ModelError, match=r"unknown model 'arcface_xl'.*scrfd_2.5g"):
        manifest.get("arcface_xl")
    with pytest.raises(ModelError, match=r"unknown model pack 'buffalo_xxl'.*buffalo_l"):
        manifest.pack("buffalo_xxl")


@pytest.mark.parametrize("field", ["match_threshold", "match_margin", "strong_margin", "visitor_match_threshold",
                                   "near_duplicate", "lookalike_threshold"])  # fmt: skip
def test_recogniser_entry_must_carry_every_threshold_of_its_scale(field: str) -> None:
    """A recogniser without one of its similarity thresholds is refused: no scale is left to a stale default."""
    from storelens.manifest import ModelSpec

    entry = load_manifest().get("sface_2021dec").model_dump()
    entry[field] = None
    with pytest.raises(ValueError, match=r"sface_2021dec: recognition needs .*lookalike_threshold"):
        ModelSpec.model_validate(entry)


def test_every_model_records_licence_and_source() -> None:
    for spec in load_manifest().models:
        assert spec.licence.strip() and spec.source.strip(), spec.name
        if spec.origin is not None:
            assert spec.sha256 == spec.origin.member_sha256 or spec.origin.converter != "copy"


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    spec = load_manifest().get("scrfd_2.5g")
    with pytest.raises(ModelError, match="storelens models prepare"):
        verify_model_file(spec, tmp_path)


def test_tampered_model_is_refused(prepared_models_dir: Path, tmp_path: Path) -> None:
    spec = load_manifest().get("scrfd_2.5g")
    data = bytearray((prepared_models_dir / spec.file).read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / spec.file).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"checksum mismatch for scrfd_2\.5g"):
        verify_model_file(spec, tmp_path)


def test_arcface_pack_is_wired_with_norm_crop(prepared_models_dir: Path, frame_of, tmp_path: Path) -> None:
    (tmp_path / "buffalo_l").mkdir()
    shutil.copyfile(prepared_models_dir / "scrfd.onnx", tmp_path / "buffalo_l" / "det_10g.onnx")
    w = tiny_arcface(tmp_path / "buffalo_l" / "w600k_r50.onnx")
    fm = load_face_models(config_for("buffalo_l"), tmp_path)
    assert (fm.detector_spec.name, fm.recogniser_spec.name) == ("buffalo_l/det_10g", "buffalo_l/w600k_r50")
    frame = frame_of("obama.jpg")
    faces = fm.detector.detect(frame)
    assert len(faces) == 1
    emb = fm.embedder.embed(frame, faces)
    assert emb.vectors.shape == (1, 512)
    # What the wiring must compute: insightface's norm_crop chip, RGB, (x - 127.5) / 127.5, the model.
    chip = face_align.norm_crop(frame.image, faces.keypoints[0], image_size=112)[:, :, ::-1]
    pooled = ((chip.astype(np.float32) - 127.5) / 127.5).mean(axis=(0, 1))
    expected = pooled @ w
    expected /= np.linalg.norm(expected)
    assert np.allclose(emb.vectors[0], expected, atol=1e-4)


def test_pack_with_wrong_signature_is_refused(prepared_models_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "buffalo_l").mkdir()
    shutil.copyfile(prepared_models_dir / "scrfd.onnx", tmp_path / "buffalo_l" / "det_10g.onnx")
    tiny_arcface(tmp_path / "buffalo_l" / "w600k_r50.onnx", out_dim=256)
    with pytest.raises(ModelError, match=r"w600k_r50.onnx: output .*256.* does not match .*512"):
        load_face_models(config_for("buffalo_l"), tmp_path)


def test_pack_with_a_recogniser_in_the_detector_slot_is_refused(tmp_path: Path) -> None:
    tiny_arcface(tmp_path / "buffalo_l" / "det_10g.onnx")
    tiny_arcface(tmp_path / "buffalo_l" / "w600k_r50.onnx")
    with pytest.raises(ModelError, match=r"det_10g.onnx: input .* does not match buffalo_l/det_10g"):
        load_face_models(config_for("buffalo_l"), tmp_path)


def test_not_an_onnx_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "buffalo_l").mkdir()
    (tmp_path / "buffalo_l" / "det_10g.onnx").write_text("not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        verify_model_file(load_manifest().get("buffalo_l/det_10g"), tmp_path)


def test_runtime_providers_and_threads(prepared_models_dir: Path) -> None:
    path = prepared_models_dir / "scrfd.onnx"
    session = make_session(path, RuntimeConfig(intra_op_threads=1, inter_op_threads=1))
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 1
    with pytest.raises(ModelError, match="TensorrtExecutionProvider not installed"):
        make_session(path, RuntimeConfig(providers=["TensorrtExecutionProvider", "CPUExecutionProvider"]))


def test_every_pinned_model_has_the_signature_its_manifest_entry_says(prepared_models_dir: Path) -> None:
    """verify_model_file trusts a pinned checksum for the signature: the pinned files' signatures are checked here."""
    from storelens.models.verify import check_signature

    pinned = [spec for spec in load_manifest().models if spec.sha256 and (prepared_models_dir / spec.file).is_file()]
    assert {"yunet_2023mar", "sface_2021dec", "scrfd_2.5g", "dlib_resnet_v1"} <= {s.name for s in pinned}
    for spec in pinned:
        check_signature(spec, prepared_models_dir / spec.file)


def test_models_left_in_the_earlier_default_folder_are_pointed_at(tmp_path: Path, monkeypatch) -> None:
    """The default moved from ./models to $STORELENS_HOME/models: a box that prepared them in ./models is told."""
    spec = load_manifest().get("yunet_2023mar")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / spec.file).write_bytes(b"prepared before")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=r"pass --models-dir models"):
        verify_model_file(spec, tmp_path / "home" / "models")
