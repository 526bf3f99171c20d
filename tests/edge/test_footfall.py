"""The footfall consumer: each frame's track outcomes taken once, in the order they happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from storelens.config import EntryLine
from storelens.edge.footfall import FootfallAggregator
from storelens.stage_messages import TrackOutcomes

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
LINE = EntryLine(start=(0, 400), end=(1280, 400), inside=(640, 700))  # the store is below y = 400


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def boxes(*ys: float) -> np.ndarray:
    """Boxes 100 px square centred at x = 640 and each y."""
    return np.array([[590, y - 50, 690, y + 50] for y in ys], np.float32).reshape(-1, 4)


def frame(t: float, ids: list[int], ys: list[float], arrivals: int = 0, ended: dict[int, str | None] | None = None):
    ended = ended or {}
    return TrackOutcomes(at(t), np.array(ids, np.int64), boxes(*ys), arrivals, np.array(list(ended), np.int64),
                         tuple(ended.values()))  # fmt: skip


def test_an_entry_counts_once_and_the_interval_waits_for_its_track() -> None:
    footfall = FootfallAggregator("s", "door", 15, line=LINE)
    assert footfall.take(frame(0, [1], [300]))[0].tolist() == []
    entered, due = footfall.take(frame(1, [1], [500]))  # crosses the line inwards
    assert entered.tolist() == [1] and due == []
    assert footfall.take(frame(2, [1], [300]))[0].tolist() == []  # out again
    assert footfall.take(frame(3, [1], [500]))[0].tolist() == []  # and in: the same track enters once
    _, due = footfall.take(frame(16 * 60, [], [], arrivals=1))
    assert due == []  # the interval is over, but the track that entered in it has not ended
    _, due = footfall.take(frame(16 * 60 + 1, [], [], ended={1: "visitor-a"}))
    (event,) = due
    assert (event.entries, event.unique_visitors, event.vip_arrivals, event.staff_excluded) == (1, 1, 0, 0)
    assert footfall.inside == set()  # per-track state evicted with the track


def test_staff_take_their_entry_back_and_the_end_of_the_source_publishes_all() -> None:
    footfall = FootfallAggregator("s", "door", 15, line=LINE)
    footfall.take(frame(0, [1, 2], [300, 300]))
    footfall.take(frame(1, [1, 2], [500, 500], arrivals=1))
    _, due = footfall.take(frame(60, [], [], ended={1: None, 2: "member-token"}), final=True)
    (event,) = due
    assert (event.entries, event.unique_visitors, event.vip_arrivals, event.staff_excluded, event.partial) == (
        1, 1, 1, 1, True)  # fmt: skip


def test_without_an_entry_line_nothing_enters() -> None:
    footfall = FootfallAggregator("s", "door", 15)
    assert footfall.take(frame(0, [1], [300]))[0].tolist() == []
    assert footfall.take(frame(1, [1], [500]))[0].tolist() == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TrackOutcomes(datetime(2026, 1, 1), np.zeros(0, np.int64), boxes()), "timezone-aware"),
        (lambda: TrackOutcomes(T0, np.zeros(2, np.int64), boxes(1)), r"expected shape \(2, 4\)"),
        (lambda: TrackOutcomes(T0, np.zeros(1, np.int32), boxes(1)), "dtype int64"),
        (lambda: TrackOutcomes(T0, np.zeros(0, np.int64), boxes(), ended=np.zeros(1, np.int64)), "people"),
        (lambda: TrackOutcomes(T0, np.zeros(0, np.int64), boxes(), arrivals=-1), "arrivals"),
    ],
    ids=["naive-time", "boxes-rows", "ids-dtype", "people-missing", "negative-arrivals"],
)
def test_track_outcomes_are_checked(make, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_a_person_lingering_on_the_line_for_20_seconds_counts_once() -> None:
    # the defaults: 0.4 s at 5 fps (edge.line_settle_seconds), a band of 6 px (edge.line_band_px)
    footfall = FootfallAggregator("s", "door", 15, line=LINE, settle=2, band=6)
    footfall.take(frame(0, [1], [300]))
    rng = np.random.default_rng(7)
    for k in range(1, 101):  # 20 s at 5 fps standing on the line, the box's centre jittering 5 px either side
        footfall.take(frame(k / 5, [1], [400 + float(rng.uniform(-5, 5))]))
    footfall.take(frame(21, [1], [550]))  # then walks in
    footfall.take(frame(21.2, [1], [560]))
    _, due = footfall.take(frame(30, [], [], ended={1: "visitor-a"}), final=True)
    (event,) = due
    assert (event.entries, event.exits, event.passers_by) == (1, 0, 0)
    without_band = FootfallAggregator("s", "door", 15, line=LINE, settle=2)  # the band is what keeps it at one
    rng = np.random.default_rng(7)
    for k in range(0, 101):
        without_band.take(frame(k / 5, [1], [400 + float(rng.uniform(-5, 5))]))
    _, due = without_band.take(frame(30, [], [], ended={1: "visitor-a"}), final=True)
    assert due[0].exits + due[0].entries > 1


@pytest.mark.parametrize(
    ("ys", "entries", "exits", "passers_by"),
    [
        ([300, 320, 340, 320, 300], 0, 0, 1),  # seen outside, never crossed: a passer-by
        ([300, 500, 520], 1, 0, 0),  # came in
        ([500, 300, 280], 0, 1, 0),  # went out
        ([500, 520, 540], 0, 0, 0),  # only ever inside: not a passer-by
    ],
)
def test_exits_and_passers_by(ys, entries, exits, passers_by) -> None:
    footfall = FootfallAggregator("s", "door", 15, line=LINE)
    for k, y in enumerate(ys):
        footfall.take(frame(k, [1], [y]))
    _, due = footfall.take(frame(10, [], [], ended={1: "visitor-a"}), final=True)
    (event,) = due
    assert (event.entries, event.exits, event.passers_by) == (entries, exits, passers_by)
    assert footfall.outside_seen == set() and footfall.exited == set()  # evicted with the track
