"""Footfall buckets in the store's own time: local days and hours, clock changes, naive times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storelens.web.reports import footfall_rows, parse_ts, store_day


def _footfall(
    start: str,
    entries: int = 1,
    camera: str = "entrance",
    tokens: tuple[str, ...] | None = None,
    unique: int | None = None,
) -> dict[str, object]:
    event = {
        "store_id": "s1",
        "camera_id": camera,
        "interval_start": start,
        "entries": entries,
        "unique_visitors": entries if unique is None else unique,
        "vip_arrivals": 0,
    }
    if tokens is not None:
        event["visitor_tokens"] = list(tokens)
    return event


@pytest.mark.parametrize(
    ("zone", "interval", "starts", "expected"),
    [
        # 23:45 and 00:15 in Paris are two days, though both are the same UTC day
        ("Europe/Paris", "1d", ["2026-11-21T22:45:00.000Z", "2026-11-21T23:15:00.000Z"],
         [("2026-11-20T23:00:00.000Z", "2026-11-21T23:00:00.000Z", "2026-11-21T00:00+01:00", 1),
          ("2026-11-21T23:00:00.000Z", "2026-11-22T23:00:00.000Z", "2026-11-22T00:00+01:00", 1)]),
        # the same two in UTC are one day
        ("UTC", "1d", ["2026-11-21T22:45:00.000Z", "2026-11-21T23:15:00.000Z"],
         [("2026-11-21T00:00:00.000Z", "2026-11-22T00:00:00.000Z", "2026-11-21T00:00+00:00", 2)]),
        # the spring-forward day in Paris has 23 hours, the autumn one 25
        ("Europe/Paris", "1d", ["2026-03-29T12:00:00.000Z"],
         [("2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z", "2026-03-29T00:00+01:00", 1)]),
        ("Europe/Paris", "1d", ["2026-10-25T12:00:00.000Z"],
         [("2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z", "2026-10-25T00:00+02:00", 1)]),
        # Kolkata's hours start at half past UTC hours: 15:15 and 15:45 local are one hour
        ("Asia/Kolkata", "1h", ["2026-11-21T09:45:00.000Z", "2026-11-21T10:15:00.000Z"],
         [("2026-11-21T09:30:00.000Z", "2026-11-21T10:30:00.000Z", "2026-11-21T15:00+05:30", 2)]),
        ("Asia/Kolkata", "15m", ["2026-11-21T09:45:00.000Z"],
         [("2026-11-21T09:45:00.000Z", "2026-11-21T10:00:00.000Z", "2026-11-21T15:15+05:30", 1)]),
    ],
)  # fmt: skip
def test_buckets_follow_the_store_clock(zone, interval, starts, expected) -> None:
    rows = footfall_rows([_footfall(s) for s in starts], interval, zone)
    assert [(r.interval_start, r.interval_end, r.local_start, r.entries) for r in rows] == expected


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-11-22", "Europe/Paris", "2026-11-21T23:00:00+00:00"),  # a date is the store's midnight
        ("2026-11-22T09:00", "America/New_York", "2026-11-22T14:00:00+00:00"),
        ("2026-11-22T09:00Z", "America/New_York", "2026-11-22T09:00:00+00:00"),  # an explicit offset wins
        ("2026-11-22T09:00+01:00", "UTC", "2026-11-22T08:00:00+00:00"),
        ("2026-11-22", "UTC", "2026-11-22T00:00:00+00:00"),
    ],
)
def test_times_without_offset_are_store_local(text, zone, expected) -> None:
    assert parse_ts(text, zone).isoformat() == expected


def test_store_day_spans_local_midnights() -> None:
    day, start, end = store_day("Pacific/Auckland", datetime(2026, 11, 21, 12, 30, tzinfo=UTC))
    assert (day.isoformat(), start.isoformat(), end.isoformat()) == (
        "2026-11-22", "2026-11-21T11:00:00+00:00", "2026-11-22T11:00:00+00:00")  # fmt: skip


def test_a_person_counts_once_per_day_and_store() -> None:
    events = [
        _footfall("2026-11-21T10:00:00.000Z", 2, tokens=("anon-a", "visitor-m")),
        _footfall("2026-11-21T16:00:00.000Z", 1, tokens=("anon-a",)),  # back in the afternoon
        _footfall("2026-11-21T16:00:00.000Z", 2, camera="side-door", tokens=("visitor-m", "anon-b")),  # other door
        _footfall("2026-11-21T16:15:00.000Z", 3, tokens=("anon-c",), unique=2),  # one still being decided
        _footfall("2026-11-21T17:00:00.000Z", 2),  # an event from before tokens: as counted
    ]
    daily = {r.camera_id: (r.entries, r.unique_visitors) for r in footfall_rows(events, "1d")}
    # entrance: a, m, c, the undecided one, and 2 from the old event; side door: m, b; the store: a, m, b, c + 1 + 2
    assert daily == {"entrance": (8, 6), "side-door": (2, 2), "all": (10, 7)}
    hourly = [(r.camera_id, r.local_start[11:16], r.unique_visitors) for r in footfall_rows(events, "1h")]
    assert ("all", "16:00", 5) in hourly  # a, m, b, c and the undecided one
