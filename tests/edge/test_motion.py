"""Motion gating: the detector skips a still, empty doorway, and the sample video's results do not change."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from storelens.apps.edge import build_pipeline
from storelens.config import Config
from storelens.edge.motion import MotionGate
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.gallery.factory import open_gallery
from storelens.stage_messages import Frame
from tests.helpers.staging import face_crop, stage
from tests.helpers.video import play

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
STILL = np.full((360, 640, 3), 110, np.uint8)


def frame(image: np.ndarray, second: float) -> Frame:
    return Frame(image, "door", int(second * 5), T0 + timedelta(seconds=second))


def moved_box(x: int) -> np.ndarray:
    image = STILL.copy()
    image[100:260, x : x + 80] = 220  # a bright figure 80 px wide
    return image


@pytest.mark.parametrize(
    ("roi", "x", "moves"),
    [(None, 300, True),
     ([(0, 0), (200, 0), (200, 360), (0, 360)], 300, False),  # the figure is outside the region
     ([(0, 0), (200, 0), (200, 360), (0, 360)], 60, True)],
)  # fmt: skip
def test_motion_inside_the_region(roi, x: int, moves: bool) -> None:
    gate = MotionGate(0.002, timedelta(seconds=60), roi)
    assert gate.moved(frame(STILL, 0)) is True  # the first frame has nothing to compare with
    assert gate.moved(frame(STILL, 0.2)) is False
    assert gate.moved(frame(moved_box(x), 0.4)) is moves


def test_still_doorway_is_looked_at_every_full_interval_and_while_tracks_live() -> None:
    gate = MotionGate(0.002, timedelta(seconds=2), None)
    looks = [gate.wants(frame(STILL, i * 0.2), tracks_alive=False) for i in range(25)]  # 5 s at 5 fps
    assert [i for i, look in enumerate(looks) if look] == [0, 10, 20]  # t = 0, 2 and 4 s
    assert gate.wants(frame(STILL, 5.2), tracks_alive=True) is True  # a track lives: always looked at
    assert (gate.looked, gate.skipped) == (4, 22)


def test_sample_video_with_gating_gives_the_same_results(video: Path, truth, face_models, members_gallery, tmp_path):
    """The busy sample video: entries, visitors and arrivals equal with and without gating, plus a quiet stretch."""
    results = {}
    for gating in (False, True):
        shutil.copytree(members_gallery, tmp_path / f"g{gating}")
        camera = {"id": "entrance", "source": str(video), "entry_line": truth["camera"]["entry_line"]}
        config = Config.model_validate(
            {"store": {"id": "s"}, "cameras": [camera], "gallery": {"refresh_seconds": 0},
             "edge": {"motion_gating": gating}}
        )  # fmt: skip
        gallery = open_gallery(config, face_models.recogniser_spec, tmp_path / f"g{gating}")
        pipeline = build_pipeline(config, config.cameras[0], face_models, gallery, ArrivalCooldown(30),
                                  AnonymousRegistry(12, 10, gallery.policy.visitor_match))  # fmt: skip
        events = play(pipeline, video, T0)
        gallery.close()
        footfall = [e for e in events if e.type == "footfall"]
        results[gating] = (
            sum(e.entries for e in footfall),
            sum(e.unique_visitors for e in footfall),
            sorted(e.member_id for e in events if e.type == "vip_arrival"),
        )
        if gating:
            assert pipeline.gate is not None and pipeline.gate.looked > 0
    assert results[True] == results[False]
    assert results[False][2] == truth["expected"]["arrivals"]


def test_a_face_that_never_moves_is_still_tracked_and_named(face_models, members_gallery, photos, tmp_path) -> None:
    """Identical frames from the first: no motion after the first, yet the face is confirmed, looked at, named."""
    shutil.copytree(members_gallery, tmp_path / "g")
    config = Config.model_validate({"store": {"id": "s"}, "cameras": [{"id": "entrance", "source": "x"}]})
    assert config.edge.motion_gating  # on by default
    gallery = open_gallery(config, face_models.recogniser_spec, tmp_path / "g")
    pipeline = build_pipeline(config, config.cameras[0], face_models, gallery, ArrivalCooldown(30),
                              AnonymousRegistry(12, 10, gallery.policy.visitor_match))  # fmt: skip
    (obama,) = [face_crop(Path(photos["obama2.jpg"]), face_models)]
    named = [e.member_id for i in range(10) for e in pipeline.process(stage(obama, i, 90)) if e.type == "vip_arrival"]
    gallery.close()
    assert named == ["M-OBAMA"]
    assert pipeline.gate is not None and (pipeline.gate.looked, pipeline.gate.skipped) == (10, 0)
