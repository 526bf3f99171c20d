"""Once-per-visit logic, footfall intervals and line direction, the outbox, payloads, and eviction."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from storelens.apps.edge import build_pipeline
from storelens.clock import floor_interval
from storelens.config import EntryLine
from storelens.edge.footfall import FootfallAggregator, LineCounter
from storelens.edge.outbox import Outbox
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.edge_events import ArrivalEvent, parse_event, topic

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return v / np.linalg.norm(v)


def test_arrival_cooldown_is_per_member_and_forgets() -> None:
    cd = ArrivalCooldown(minutes=30)
    assert cd.claim("m1", T0)
    assert not cd.claim("m1", T0 + timedelta(minutes=29))
    assert cd.claim("m2", T0 + timedelta(minutes=1))
    assert cd.claim("m1", T0 + timedelta(minutes=31))  # a new visit
    cd.claim("m3", T0 + timedelta(hours=5))
    assert len(cd) == 1  # old entries evicted


def test_anonymous_registry_visits_and_ttl() -> None:
    reg = AnonymousRegistry(ttl_hours=12, visit_gap_minutes=10, threshold=0.9)
    a = reg.resolve(unit(1)[None], T0)
    assert (a.returning, a.new_visit) == (False, True)
    same_visit = reg.resolve(unit(1)[None], T0 + timedelta(minutes=5))
    assert (same_visit.anon_id, same_visit.new_visit) == (a.anon_id, False)
    back = reg.resolve(unit(1)[None], T0 + timedelta(hours=3))
    assert (back.anon_id, back.returning, back.new_visit) == (a.anon_id, True, True)
    other = reg.resolve(unit(2)[None], T0 + timedelta(hours=3))
    assert other.anon_id != a.anon_id
    later = reg.resolve(unit(3)[None], T0 + timedelta(hours=16))  # both earlier people are past the TTL
    assert len(reg) == 1 and later.returning is False
    forgotten = reg.resolve(unit(1)[None], T0 + timedelta(hours=16))
    assert forgotten.anon_id != a.anon_id and forgotten.returning is False


def test_member_tokens_are_random_stable_for_the_ttl_then_forgotten() -> None:
    reg = AnonymousRegistry(ttl_hours=12, visit_gap_minutes=10, threshold=0.9)
    morning = reg.member_token("M-4711", T0)
    assert "4711" not in morning and morning.startswith("visitor-")
    assert reg.member_token("M-4711", T0 + timedelta(hours=6)) == morning  # back in the afternoon: one person
    assert reg.member_token("M-0001", T0 + timedelta(hours=6)) != morning
    assert reg.member_token("M-4711", T0 + timedelta(hours=19)) != morning  # 13 h unseen: forgotten
    assert AnonymousRegistry(12, 10, 0.9).member_token("M-4711", T0) != morning  # nothing derived from the id


@pytest.mark.parametrize(
    ("inside", "moving_down_enters"),
    [((640, 700), True), ((640, 100), False)],
)
def test_entry_line_direction(inside, moving_down_enters) -> None:
    counter = LineCounter(EntryLine(start=(0, 400), end=(1280, 400), inside=inside))
    entered, exited = [], []
    for y in range(300, 520, 20):  # one track walking down across the line
        box = np.array([[600, y - 40, 680, y + 40]], np.float32)
        came_in, went_out = counter.trigger(np.array([7]), box)
        entered += came_in.tolist()
        exited += went_out.tolist()
    assert entered == ([7] if moving_down_enters else [])
    assert exited == ([] if moving_down_enters else [7])


@pytest.mark.parametrize(
    ("line", "message"),
    [({"start": (0, 0), "end": (0, 0), "inside": (5, 5)}, "zero length"),
     ({"start": (0, 0), "end": (10, 0), "inside": (5, 0)}, "lies on the entry line")],
)  # fmt: skip
def test_entry_line_validation(line, message) -> None:
    with pytest.raises(ValidationError, match=message):
        EntryLine.model_validate(line)


def test_footfall_intervals_wait_for_tracks_and_end_partial() -> None:
    agg = FootfallAggregator("s", "c", minutes=15)
    agg.seen(T0)
    agg.entry(1, T0 + timedelta(minutes=14))
    agg.arrival(T0 + timedelta(minutes=14))
    assert agg.due(T0 + timedelta(minutes=16)) == []  # track 1 still being decided
    agg.identified(1, "visitor-1")
    (first,) = agg.due(T0 + timedelta(minutes=16))
    assert (first.interval_start, first.interval_end) == ("2026-11-21T10:00:00.000Z", "2026-11-21T10:15:00.000Z")
    assert (first.entries, first.unique_visitors, first.vip_arrivals, first.partial) == (1, 1, 1, False)
    assert first.visitor_tokens == ("visitor-1",)
    agg.seen(T0 + timedelta(minutes=16))
    agg.entry(2, T0 + timedelta(minutes=17))
    agg.identified(2, "anon-x")
    agg.entry(3, T0 + timedelta(minutes=18))
    agg.identified(3, "anon-x")  # the same person entering twice: 2 entries, 1 visitor
    (last,) = agg.due(T0 + timedelta(minutes=20), final=True)
    assert (last.entries, last.unique_visitors, last.partial, last.interval_end) == (
        2,
        1,
        True,
        "2026-11-21T10:20:00.000Z",
    )


def test_floor_interval() -> None:
    assert floor_interval(T0.replace(hour=13, minute=59, second=7), 15) == T0.replace(hour=13, minute=45)
    assert floor_interval(T0.replace(hour=13, minute=59), 60) == T0.replace(hour=13, minute=0)


def test_outbox_survives_reopen_and_is_idempotent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put("e1", "cam", "t/1", b"{}")
    box.put("e1", "cam", "t/1", b"{}")  # same event twice: stored once
    box.put("e2", "cam", "t/2", b"{}")
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    pending = again.pending("cam")
    assert [p.event_id for p in pending] == ["e1", "e2"]
    again.ack(pending[0].seq)
    assert again.depth() == 1 and again.depth("other") == 0


def test_topics_and_payloads() -> None:
    assert topic("paris-01", "entrance", "arrival") == "storelens/v1/paris-01/entrance/arrival"
    ev = ArrivalEvent(store_id="s", camera_id="c", member_id="m", similarity=0.95, track_id=3)
    back = parse_event(ev.model_dump_json())
    assert back == ev and len(ev.event_id) == 36 and ev.ts.endswith("Z") and ev.ts[-5] == "."
    with pytest.raises(ValidationError, match="member_id"):
        parse_event(
            b'{"type": "vip_arrival", "event_id": "x", "store_id": "s", "camera_id": "c", "similarity": 1,'
            b' "track_id": 1}'
        )
    with pytest.raises(ValidationError):
        parse_event(b"not json")


def test_pipeline_evicts_track_state(video, face_models, members_gallery, truth, tmp_path) -> None:
    import shutil

    from storelens.config import Config
    from storelens.edge.capture import FileReader
    from storelens.gallery.factory import open_gallery

    gallery_dir = tmp_path / "g"
    shutil.copytree(members_gallery, gallery_dir)
    config = Config.model_validate(
        {
            "store": {"id": "s"},
            "cameras": [{"id": "entrance", "source": str(video), "entry_line": truth["camera"]["entry_line"]}],
        }
    )
    gallery = open_gallery(config, face_models.recogniser_spec, gallery_dir)
    cooldown = ArrivalCooldown(30)
    visitors = AnonymousRegistry(12, 10, 0.93)
    pipeline = build_pipeline(config, config.cameras[0], face_models, gallery, cooldown, visitors)
    reader = FileReader("entrance", str(video), 5.0, start=T0)
    peak = 0
    last = T0
    visits: list[int] = []  # per frame: how many times its walk enters the footfall module from the pipeline
    while (frame := reader.next()) is not None:
        with footfall_calls() as calls:
            pipeline.process(frame)
        visits.append(len(calls))
        peak = max(peak, len(pipeline.tracks))
        last = frame.ts
    pipeline.finish(last)
    assert 1 <= peak <= 4  # never more live tracks than people in view
    assert pipeline.tracks == {} and pipeline.footfall.open == {}
    assert len(visits) > 50 and set(visits) == {1}  # one consumer of each frame's track outcomes, once
    gallery.close()


@contextlib.contextmanager
def footfall_calls() -> Iterator[list[str]]:
    """The calls made from ``edge/pipeline.py`` into ``edge/footfall.py`` while the block runs (their names)."""
    calls: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        caller = frame.f_back
        into = event == "call" and frame.f_code.co_filename.endswith(os.path.join("edge", "footfall.py"))
        if into and caller is not None and caller.f_code.co_filename.endswith(os.path.join("edge", "pipeline.py")):
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)


def test_roi_keeps_faces_inside_the_polygon() -> None:
    from storelens.edge.track import roi_filter
    from storelens.stage_messages import Detections

    faces = Detections(
        np.array([[10, 10, 50, 50], [600, 300, 680, 380], [1200, 650, 1260, 710]], np.float32),
        np.ones(3, np.float32),
        np.zeros((3, 5, 2), np.float32),
    )
    kept = faces.select(roi_filter(faces.boxes, [(100, 100), (1000, 100), (1000, 600), (100, 600)]))
    assert kept.boxes.tolist() == [[600, 300, 680, 380]]
    assert roi_filter(faces.boxes, None).tolist() == [True, True, True]
