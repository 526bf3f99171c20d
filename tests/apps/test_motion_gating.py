"""Motion gating on clips with their truth: nobody lost, the detector idle while the entrance is empty."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from storelens.bench.edge import scenario_config, sustained
from storelens.bench.gating import gated, gating_markdown, outcomes
from storelens.sample_videos.generate import STORE_DAY, load_truth, render, sample_video


@pytest.fixture(scope="module")
def store_day(face_models) -> Path:
    return sample_video(face_models, STORE_DAY)


@pytest.mark.parametrize("gating", [False, True])
def test_store_day_clip_matches_its_truth(gating: bool, store_day: Path, members_gallery: Path, face_models) -> None:
    truth = load_truth(STORE_DAY)["expected"]
    found = outcomes(face_models, gated(scenario_config(store_day, members_gallery), gating), store_day)
    assert found["arrivals"] == truth["arrivals"]  # each member once, no stranger named
    assert found["entries"] == truth["entries"]
    assert found["unique_visitors"] == truth["unique_visitors"]
    if gating:  # people are in view 22 % of the clip: the detector sleeps through most of the rest
        looked, frames = (int(v) for v in found["detector_frames"].split(" of "))
        assert frames == 450 and looked < 0.45 * frames


def standing_member(seconds_still: float) -> dict[str, Any]:
    """One member walks in, stands still facing the camera for ``seconds_still``, and walks on in."""
    truth = load_truth(STORE_DAY)
    still = [2.0, 2.0 + seconds_still]
    person = {"id": "s01", "who": "obama", "member_id": "M-OBAMA", "photo": "obama2.jpg", "face": 0,
              "t0": 1.0, "t1": 11.0 + seconds_still, "from": [640, 170], "to": [640, 650], "size": [80, 185],
              "light": 1.0, "enters": True, "stand": still}  # fmt: skip
    return truth | {
        "video": truth["video"] | {"file": "standing.mp4", "fps": 5, "seconds": 12.0 + seconds_still},
        "people": [person],
    }


def test_a_member_standing_still_is_counted_and_announced_once(face_models, members_gallery, tmp_path) -> None:
    video = render(standing_member(20.0), face_models, tmp_path / "standing.mp4")
    found = outcomes(face_models, gated(scenario_config(video, members_gallery), True), video)
    assert found["arrivals"] == ["M-OBAMA"]
    assert found["entries"] == 1 and found["unique_visitors"] == 1


@pytest.mark.parametrize("capacity", [1, 3, 12, 40])
@pytest.mark.parametrize("estimate", [1, 10, 30, 64])
def test_camera_search_finds_the_capacity(capacity: int, estimate: int) -> None:
    """The search for cameras sustained, on a machine that keeps up with exactly ``capacity`` cameras."""
    runs: list[int] = []

    def run(n: int) -> tuple[float, float]:
        runs.append(n)
        return capacity / n, 0.0

    cores = os.cpu_count() or 1
    best, tried = sustained(run, 0.9 * cores / (estimate + 0.5), 64)
    # from above: lowered by the slowest camera's factor, then one step up fails; from below: a tenth more, then
    # as far as that count's factor points
    assert best == capacity
    assert all(tried[n] >= 1 for n in tried if n <= best) and len(runs) <= 5


def test_gating_section_reads_off_both_runs() -> None:
    row = {"cameras_at_5fps": 0, "factor_by_cameras": {}, "detector_frames": "", "cpu_seconds": 0.0, "entries": 4,
           "unique_visitors": 4, "arrivals": ["M-BIDEN", "M-OBAMA"], "embeddings_per_track_mean": 1.2}  # fmt: skip
    greet = {"greet_seconds": {"M-OBAMA": 0.8}, "named": ["M-OBAMA"], "latency_p50_ms": 40, "latency_p95_ms": 90}
    clip = {"clip": "store_day.mp4, 90.0 s", "truth": load_truth(STORE_DAY)["expected"], "in_view_share": 0.217}
    result = {"set": "yunet + sface", "cores": 2, "clips": {"store day": clip | {
        "off": row | {"cameras_at_5fps": 20, "greet": greet},
        "on": row | {"cameras_at_5fps": 41, "greet": None},  # no Mosquitto on that run: n/a, not a crash
    }}}  # fmt: skip
    text = gating_markdown(result, "a machine", "today", "storelens bench --part gating")
    assert "| 720p cameras sustained at 5 analysed fps | store day | 20 | 41 |" in text
    assert "| time to greet M-OBAMA, s (clear view to PUBACK) | store day | 0.8 | None |" in text
    assert "| capture-to-publish latency p50 / p95, ms | store day | 40 / 90 | n/a / n/a | p95 <= 300 |" in text
    assert "people in view 22% of it): 4 entries, 4 unique visitors" in text
