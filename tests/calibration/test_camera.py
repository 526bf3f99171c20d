"""Camera calibration: the snapshot an installer checks, and geometry the config refuses."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.config import load_config
from storelens.errors import ConfigError
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml

LINE = {"start": [80, 420], "end": [1200, 420], "inside": [640, 700]}


def config(tmp_path: Path, source: str, models: Path, detection: dict | None = None, **camera: object) -> Path:
    cam = {"id": "entrance", "source": source, "entry_line": LINE} | camera
    data = {"store": {"id": "s"}, "cameras": [cam], "models": {"dir": str(models)}, "detection": detection or {}}
    return write_toml(tmp_path / "c.toml", data)


def test_snapshot_on_the_sample_video(video, prepared_models_dir, tmp_path) -> None:
    out = tmp_path / "snap.png"
    cfg = config(tmp_path, str(video), prepared_models_dir, roi=[[40, 120], [1240, 120], [1240, 715], [40, 715]])
    proc = run_cli(
        "calibrate", "camera", "--json", "--config", str(cfg), "--camera", "entrance", "--out", str(out), "--at", "4"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["verdict"].startswith("OK: faces at the entry line are")
    assert result["frame_size"] == [1280, 720] and len(result["faces_px"]) >= 2 and result["near_line_px"]
    img = cv2.imread(str(out))
    assert img.shape == (720, 1280, 3)
    line_row = img[420, 100:1180]  # the entry line is drawn in yellow (BGR 0, 220, 255)
    assert np.mean(np.all(np.abs(line_row.astype(int) - [0, 220, 255]) < 40, axis=1)) > 0.5


@pytest.mark.parametrize(
    ("detection", "camera"),
    [({}, {"min_face_px": 400}), ({"min_face_px": 400}, {})],  # the camera's own minimum, or the global one
    ids=["camera-minimum", "global-minimum"],
)
def test_faces_too_small_for_the_minimum(video, prepared_models_dir, tmp_path, detection, camera) -> None:
    cfg = config(tmp_path, str(video), prepared_models_dir, detection, **camera)
    out = str(tmp_path / "s.png")
    proc = run_cli("calibrate", "camera", "--config", str(cfg), "--camera", "entrance", "--out", out, "--at", "4")
    assert proc.returncode == 1 and "TOO SMALL" in proc.stdout and "under 400 px" in proc.stdout


def test_empty_entrance_says_no_face(prepared_models_dir, tmp_path) -> None:
    empty = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter.fourcc(*"mp4v"), 25, (1280, 720))
    for _ in range(50):
        writer.write(np.full((720, 1280, 3), 120, np.uint8))
    writer.release()
    proc = run_cli(
        "calibrate",
        "camera",
        "--config",
        str(config(tmp_path, str(empty), prepared_models_dir)),
        "--camera",
        "entrance",
        "--out",
        str(tmp_path / "s.png"),
    )
    assert proc.returncode == 1 and "NO FACE SEEN" in proc.stdout
    assert (tmp_path / "s.png").is_file()


def test_line_outside_the_real_frame_is_refused(video, prepared_models_dir, tmp_path) -> None:
    cfg = config(
        tmp_path,
        str(video),
        prepared_models_dir,
        entry_line={"start": [80, 420], "end": [5000, 420], "inside": [640, 700]},
    )
    proc = run_cli(
        "calibrate", "camera", "--config", str(cfg), "--camera", "entrance", "--out", str(tmp_path / "s.png")
    )
    assert proc.returncode == 2 and "entry_line.end (5000.0, 420.0) lies outside the 1280x720 frame" in proc.stderr


@pytest.mark.parametrize(
    ("camera", "fragments"),
    [
        ({"frame_size": [1280, 720], "roi": [[0, 0], [1400, 0], [1400, 700], [0, 700]]},
         ["cameras[0]", "roi point (1400.0, 0.0) lies outside the 1280x720 frame"]),
        ({"roi": [[0, 0], [100, 100], [100, 0], [0, 100]]}, ["cameras[0]", "self-intersecting polygon"]),
        ({"entry_line": {"start": [10, 10], "end": [10, 10], "inside": [50, 50]}},
         ["cameras[0].entry_line", "zero length"]),
        ({"frame_size": [640, 480]}, ["entry_line.end (1200.0, 420.0)", "outside the 640x480 frame"]),
    ],
    ids=["roi-outside", "self-intersecting", "zero-line", "line-outside"],
)  # fmt: skip
def test_config_refuses_bad_geometry(tmp_path: Path, camera: dict, fragments: list[str]) -> None:
    cam = {
        "id": "entrance",
        "source": "rtsp://x/1",
        "entry_line": {"start": [80, 420], "end": [1200, 420], "inside": [640, 470]},
    } | camera
    path = write_toml(tmp_path / "c.toml", {"store": {"id": "s"}, "cameras": [cam]})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for fragment in fragments:
        assert fragment in str(err.value)
