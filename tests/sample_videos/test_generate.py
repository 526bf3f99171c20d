"""The sample video is generated into the user's cache directory, never into the installed package."""

from __future__ import annotations

from pathlib import Path

import pytest

import storelens.sample_videos
from storelens.bench.gating import _in_view_share
from storelens.models.prepare import cache_dir
from storelens.sample_videos.generate import STORE_DAY, TRUTH, _progress, clear_view_at, load_truth, scenario_key


def test_the_video_lives_in_the_cache_directory(video: Path) -> None:
    package = Path(storelens.sample_videos.__file__).parent
    assert video.is_file() and video.parent == cache_dir() / "sample_videos"
    assert not (package / "cache").exists() or not any((package / "cache").iterdir())
    assert scenario_key(load_truth()) in video.name  # regenerated when the scenario changes


@pytest.mark.parametrize(
    ("person", "t", "expected"),
    [
        ({"t0": 10.0, "t1": 20.0}, 15.0, 0.5),  # a plain walk: halfway at half time
        ({"t0": 10.0, "t1": 20.0}, 25.0, 1.0),  # gone: at the end of the path
        ({"t0": 0.0, "t1": 30.0, "stand": [2.0, 22.0]}, 1.0, 0.1),  # walks 10 s in all: 1 s of it
        ({"t0": 0.0, "t1": 30.0, "stand": [2.0, 22.0]}, 12.0, 0.2),  # standing still where they stopped
        ({"t0": 0.0, "t1": 30.0, "stand": [2.0, 22.0]}, 26.0, 0.6),  # walking on after the stand
    ],
)
def test_progress_along_the_path(person, t, expected) -> None:
    assert _progress(person, t) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("effects", "expected"),
    [
        ({}, 5.0),  # clear from the first frame
        ({"blur": [[0, 1.0, 3.5]], "turn": [[0.6, 1.4, 0.45]], "occlude": [[1.4, 2.0, 0.5]]}, 7.0),  # after the cover
        ({"turn": [[0, 1.2, 0.4]]}, 6.2),
    ],
)
def test_clear_view_starts_when_blur_turn_and_cover_end(effects, expected) -> None:
    assert clear_view_at({"t0": 5.0, **effects}) == pytest.approx(expected)


@pytest.mark.parametrize("path", [TRUTH, STORE_DAY])
def test_each_scenario_is_consistent_with_its_expected_results(path: Path) -> None:
    truth = load_truth(path)
    people = truth["people"]
    members = {m["member_id"] for m in truth["members"]}
    entrants = [p for p in people if p["enters"]]
    assert truth["expected"]["entries"] == len(entrants)
    assert truth["expected"]["unique_visitors"] == len({p["who"] for p in entrants})
    assert truth["expected"]["arrivals"] == sorted({p["member_id"] for p in entrants if p["member_id"]})
    line_y = truth["camera"]["entry_line"]["start"][1]  # a horizontal line, the store below it
    assert truth["expected"]["exits"] == sum(p["from"][1] > line_y > p["to"][1] for p in people)
    assert truth["expected"]["passers_by"] == sum(max(p["from"][1], p["to"][1]) < line_y for p in people)
    assert {p["member_id"] for p in people if p["member_id"]} <= members
    assert all(0 <= p["t0"] < p["t1"] <= truth["video"]["seconds"] for p in people)


def test_the_store_day_is_mostly_quiet() -> None:
    truth = load_truth(STORE_DAY)
    share = _in_view_share(truth)
    assert 0.15 <= share <= 0.25  # the store entrance: people in view 15-25 % of the time
    assert share * truth["video"]["seconds"] == pytest.approx(truth["expected"]["in_view_seconds"], abs=0.1)
