"""Staff are not customers: never announced, never counted as entries or visitors, no token kept."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storelens.apps.edge import build_pipeline
from storelens.config import Config
from storelens.edge.footfall import FootfallAggregator
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.gallery.factory import open_gallery
from storelens.sample_videos.members import enrol_scenario_staff
from tests.helpers.video import play

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ends", "entries", "staff", "tokens"),
    [([("customer", 1), ("staff", 2)], 1, 1, ("anon-c",)),  # crossing at the same moment: one counted
     ([("staff", 2), ("staff", 3)], 0, 2, ()),
     ([("customer", 1), ("customer", 3)], 2, 0, ("anon-c",))],
)  # fmt: skip
def test_a_staff_pass_is_taken_back_and_a_customer_at_the_same_moment_counts(ends, entries, staff, tokens) -> None:
    agg = FootfallAggregator("s", "door", 15)
    agg.seen(T0)
    for track in (1, 2, 3):
        agg.entry(track, T0 + timedelta(seconds=5))  # the three cross the line in the same second
    for kind, track in ends:
        agg.staff(track) if kind == "staff" else agg.identified(track, "anon-c")
    left = {1, 2, 3} - {t for _, t in ends}
    for track in left:
        agg.identified(track, f"anon-{track}")
    (event,) = agg.due(T0 + timedelta(minutes=20))
    expected_tokens = tuple(sorted(set(tokens) | {f"anon-{t}" for t in left}))
    assert (event.entries, event.staff_excluded) == (entries + len(left), staff)
    assert event.visitor_tokens == expected_tokens  # no token of staff kept
    assert event.unique_visitors == len(expected_tokens)


def test_staff_on_the_sample_video(video: Path, truth, face_models, members_gallery, tmp_path) -> None:
    shutil.copytree(members_gallery, tmp_path / "g")
    camera = {"id": "entrance", "source": str(video), "entry_line": truth["camera"]["entry_line"]}
    config = Config.model_validate({"store": {"id": "s"}, "cameras": [camera], "gallery": {"refresh_seconds": 0}})
    gallery = open_gallery(config, face_models.recogniser_spec, tmp_path / "g")
    assert enrol_scenario_staff(gallery, face_models, config, truth) == {"S-GAUSS": "Carl Friedrich Gauss"}
    assert gallery.is_staff("S-GAUSS") and not gallery.is_staff("M-OBAMA")
    pipeline = build_pipeline(config, config.cameras[0], face_models, gallery, ArrivalCooldown(30),
                              AnonymousRegistry(12, 10, gallery.policy.visitor_match))  # fmt: skip
    events = play(pipeline, video, T0)
    footfall = [e for e in events if e.type == "footfall"]
    exp = truth["expected_with_staff"]
    assert sum(e.entries for e in footfall) == exp["entries"]  # Gauss walks in twice, counted never
    assert sum(e.staff_excluded for e in footfall) == exp["staff_excluded"]
    assert sum(e.unique_visitors for e in footfall) == exp["unique_visitors"]
    assert sorted(e.member_id for e in events if e.type == "vip_arrival") == exp["arrivals"]  # never S-GAUSS
    share = pipeline.decidable_share  # /metrics: tracks with a face good enough to decide
    assert share is not None and share >= 0.8 and 100 < (pipeline.lift.last_brightness or 0) < 160
    gallery.remove("S-GAUSS")
    assert not gallery.is_staff("S-GAUSS")
    gallery.close()
