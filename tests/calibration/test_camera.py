"""Camera calibration: the snapshot an installer checks, and geometry the config refuses."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.calibration.camera import FaceSurvey, gating_note, recognition_verdict
from storelens.config import EdgeConfig, load_config
from storelens.errors import ConfigError
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml
from tests.helpers.poor_video import BACKLIT, DARK, degraded_video

LINE = {"start": [80, 420], "end": [1200, 420], "inside": [640, 700]}


def config(tmp_path: Path, source: str, models: Path, detection: dict | None = None, **camera: object) -> Path:
    cam = {"id": "entrance", "source": source, "entry_line": LINE} | camera
    data = {"store": {"id": "s"}, "cameras": [cam], "models": {"dir": str(models)}, "detection": detection or {}}
    return write_toml(tmp_path / "c.toml", data)


def test_snapshot_on_the_sample_video(video, prepared_models_dir, tmp_path) -> None:
    out = tmp_path / "snap.png"
    cfg = config(tmp_path, str(video), prepared_models_dir, roi=[[40, 120], [1240, 120], [1240, 715], [40, 715]])
    proc = run_cli(
        "calibrate", "camera", "--json", "--config", str(cfg), "--camera", "entrance", "--out", str(out), "--at", "4",
        "--seconds", "20",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["verdict"].startswith("OK: faces at the entry line are")
    assert result["frame_size"] == [1280, 720] and len(result["faces_px"]) >= 2 and result["near_line_px"]
    img = cv2.imread(str(out))
    assert img.shape == (720, 1280, 3)
    line_row = img[420, 100:1180]  # the entry line is drawn in yellow (BGR 0, 220, 255)
    assert np.mean(np.all(np.abs(line_row.astype(int) - [0, 220, 255]) < 40, axis=1)) > 0.5
    assert result["detector"].startswith("motion gating on: the detectors run when 0.2% of the region")
    assert result["role"] == "both" and result["counting"]["crossing"] >= 1  # the synthetic people's bodies are seen
    counting = result["counting"]
    assert 0 < counting["with_face"] <= counting["crossing"] and counting["face_share"] > 0.5  # faces facing the camera
    banner = img[2:28, 600:]  # the note's banner: black behind blue text, over the top of the frame
    assert np.mean(banner.max(axis=2) < 30) > 0.8 and np.any(
        np.all(np.abs(img[2:28].astype(int) - [230, 160, 40]) < 60, axis=2)
    )


@pytest.mark.parametrize(
    ("edge", "expected"),
    [
        ({"motion_gating": False}, "motion gating off: the detectors run on every analysed frame"),
        (
            {},
            "motion gating on: the detectors run when 0.2% of the region of interest changes, while someone is "
            "tracked, and at least every 2 s",
        ),
        ({"motion_gating": True, "motion_min_share": 0.05, "full_detection_seconds": 0.5}, "when 5% of the region"),
    ],
)
def test_gating_note(edge: dict, expected: str) -> None:
    assert expected in gating_note(EdgeConfig.model_validate(edge))


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


@pytest.mark.parametrize(
    ("variant", "works", "fragments"),
    [(None, True, ["RECOGNITION WILL WORK"]),
     (DARK, False, ["RECOGNITION WILL NOT WORK", "too dark", "night mode"]),
     (BACKLIT, False, ["RECOGNITION WILL NOT WORK", "backlit", "wide dynamic range"])],
    ids=["as-is", "dark", "backlit"],
)  # fmt: skip
def test_recognition_verdict_on_poor_variants(
    video, face_models, prepared_models_dir, tmp_path, variant, works, fragments
):
    """The sample video as it is, very dark and noisy, and backlit (faces a silhouette against a bright street)."""
    source = video if variant is None else degraded_video(video, tmp_path / "v.avi", variant, face_models, 12)
    cfg = config(tmp_path, str(source), prepared_models_dir)
    proc = run_cli(
        "calibrate", "camera", "--json", "--config", str(cfg), "--camera", "entrance", "--out", str(tmp_path / "s.png"),
        "--seconds", "12",
    )  # fmt: skip
    assert proc.returncode == (0 if works else 1), proc.stderr
    rec = json.loads(proc.stdout)["recognition"]
    assert rec["works"] is works and rec["faces"] >= 10
    assert all(f in rec["verdict"] for f in fragments), rec["verdict"]


def survey_of(**values: float) -> FaceSurvey:
    base = dict(frames=40, faces=60, passing=55, width_px=120.0, brightness=125.0, snr=30.0, scene_brightness=128.0,
                sharpness=600.0, yaw=0.1, blockiness=1.2, works=False, verdict="")  # fmt: skip
    return FaceSurvey(**(base | values))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "works", "fragment"),
    [({}, True, "WILL WORK: 55 of 60"),
     ({"brightness": 40.0, "scene_brightness": 42.0}, True, "could be better: too dark"),  # dark but clean: advice
     ({"brightness": 20.0, "scene_brightness": 21.0, "snr": 1.5}, False, "too dark"),
     ({"brightness": 60.0, "scene_brightness": 200.0}, True, "could be better: backlit"),
     ({"brightness": 20.0, "scene_brightness": 200.0}, False, "backlit"),
     ({"width_px": 24.0}, False, "faces too small (24 px, 32 needed)"),
     ({"blockiness": 2.0}, True, "compression blocks: raise the stream's bitrate"),
     ({"sharpness": 20.0, "passing": 10}, False, "focus the lens"),
     ({"passing": 10}, False, "faces turned away"),
     ({"faces": 0, "passing": 0}, False, "NO FACE SEEN in 40 frames")],
)  # fmt: skip
def test_recognition_verdict_rules(values: dict, works: bool, fragment: str) -> None:
    ok, verdict = recognition_verdict(survey_of(**values), 32)
    assert ok is works and fragment in verdict, verdict


# locale, the verdict's first words, the gating banner's
SNAPSHOT_LANGUAGES = [
    ("en_GB", "OK: faces in view", "motion gating on"),
    ("fr_FR", "OK : les visages dans le champ", "filtrage par mouvement activé"),
    ("zh_Hans_CN", "正常：画面中的人脸", "运动门控开启"),
]


@pytest.mark.parametrize(("locale", "verdict", "banner"), SNAPSHOT_LANGUAGES)
def test_the_snapshot_speaks_the_reader_s_language(face_models, photos, locale, verdict, banner) -> None:
    """The console's snapshot in the page's language: Chinese is drawn (Hershey fonts draw ASCII only)."""
    from storelens.calibration.camera import check, draw
    from storelens.config import CameraConfig
    from storelens.i18n import Translator
    from storelens.images import load_image
    from storelens.stage_messages import Frame
    from tests.helpers.cli import ARTIFACTS

    tr = Translator(locale)
    frame = Frame(load_image(photos["obama.jpg"]), camera_id="entrance")
    camera = CameraConfig(id="entrance", source="0", roi=[[10, 10], [400, 10], [400, 400]])
    faces = face_models.detector.detect(frame)
    result = check(camera, frame, faces, 24, tr)
    note = gating_note(EdgeConfig(), tr)
    assert result.ok and result.verdict.startswith(verdict) and note.startswith(banner)
    image = draw(camera, frame, faces, result, note, tr)
    plain = draw(camera, frame, faces, result, "", tr)
    assert image.shape == frame.image.shape
    top, bottom = image[:30], image[-34:]
    assert (top != plain[:30]).any() and (bottom.max(axis=2) > 100).mean() > 0.01  # banner and verdict drawn
    ARTIFACTS.mkdir(exist_ok=True)
    cv2.imwrite(str(ARTIFACTS / f"snapshot-{locale}.png"), image)


@pytest.mark.parametrize(
    ("line", "placed", "verdict"),
    [
        ({"start": [150, 150], "end": [150, 345], "inside": [250, 250]}, True, "PLACED TO COUNT: 8 people crossed"),
        ({"start": [20, 150], "end": [20, 345], "inside": [100, 250]}, False, "people crossed the line cut off"),
    ],
    ids=["across-the-walkway", "at-the-frame-edge"],
)
def test_a_counting_camera_on_real_footage(prepared_models_dir, tmp_path, line, placed, verdict) -> None:
    from storelens.sample_videos.real_clips import fetch_clip

    clip = str(fetch_clip("vtest"))
    cfg = write_toml(tmp_path / "c.toml", {"store": {"id": "s"}, "models": {"dir": str(prepared_models_dir)},
                                          "cameras": [{"id": "plaza", "source": clip, "role": "count",
                                                       "entry_line": line}]})  # fmt: skip
    out = tmp_path / "s.png"
    proc = run_cli("calibrate", "camera", "--json", "--config", str(cfg), "--camera", "plaza", "--out", str(out),
                   "--seconds", "80")  # fmt: skip
    result = json.loads(proc.stdout)
    assert result["recognition"] is None and result["faces_px"] == []  # a count-only camera is never asked for faces
    assert result["counting"]["placed_to_count"] is placed and verdict in result["counting"]["verdict"]
    assert result["does"].startswith("counts people through its entry line; no face is looked for")
    assert proc.returncode == (0 if placed else 1)
    img = cv2.imread(str(out))  # the people are drawn: white boxes
    assert np.count_nonzero(np.all(img == [240, 240, 240], axis=2)) > 200
