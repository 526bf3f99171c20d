"""Bad photos: a clear error naming the file and the reason, or a correct result; never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.errors import ImageError
from storelens.images import load_image
from tests.helpers.cli import run_cli


def _truncated(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) * 6 // 10])


def _gray(src: Path, dst: Path) -> None:
    cv2.imwrite(str(dst), cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2GRAY))


def _deep(src: Path, dst: Path) -> None:
    cv2.imwrite(str(dst), cv2.imread(str(src)).astype(np.uint16) * 257)


def _alpha(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes())


# (file name, source photo, maker, expected error or None, expected faces when no error)
CASES: list[tuple[str, str, Callable[[Path, Path], None], str | None, int | None]] = [
    ("truncated.jpg", "obama.jpg", _truncated, "truncated JPEG", None),
    ("text.jpg", "obama.jpg", lambda s, d: d.write_text("hello, I am not a photo\n"), "not an image", None),
    ("empty.jpg", "obama.jpg", lambda s, d: d.write_bytes(b""), "empty file", None),
    ("garbage.png", "obama.jpg", lambda s, d: d.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
     "not a decodable image", None),
    ("32bit.png", "32bit.png", _alpha, None, 1),
    ("gray.png", "obama.jpg", _gray, None, 1),
    ("one.png", "obama.jpg", lambda s, d: cv2.imwrite(str(d), np.zeros((1, 1, 3), np.uint8)), None, 0),
    ("deep16.png", "obama.jpg", _deep, None, 1),
    ("directory.jpg", "obama.jpg", lambda s, d: d.mkdir(), "is a directory", None),
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_photos(photos, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    for name, src, make, _, _ in CASES:
        make(photos[src], folder / name)
    return folder


@pytest.mark.parametrize(("name", "reason", "faces"), [(c[0], c[3], c[4]) for c in CASES], ids=[c[0] for c in CASES])
def test_load_image(bad_photos: Path, face_models, name: str, reason: str | None, faces: int | None) -> None:
    path = bad_photos / name
    if reason:
        with pytest.raises(ImageError, match=reason) as err:
            load_image(path)
        assert str(path) in str(err.value)
    else:
        from storelens.stage_messages import Frame

        img = load_image(path)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert len(face_models.detector.detect(Frame(img))) == faces


def test_cli_reports_each_bad_photo_and_goes_on(bad_photos: Path, prepared_models_dir: Path) -> None:
    paths = [str(bad_photos / c[0]) for c in CASES] + [str(bad_photos / "absent.jpg")]
    proc = run_cli("faces", "detect", "--json", "--models-dir", str(prepared_models_dir), *paths)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("storelens: error:")]
    expected_errors = {c[0]: c[3] for c in CASES if c[3]} | {"absent.jpg": "no such file"}
    assert len(errors) == len(expected_errors)
    for name, reason in expected_errors.items():
        assert any(str(bad_photos / name) in ln and reason in ln for ln in errors), name
    results = {Path(r["photo"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    assert {n: len(r["faces"]) for n, r in results.items()} == {c[0]: c[4] for c in CASES if c[3] is None}
