"""Retention of the event store: events and access-log entries past the privacy rules' periods are deleted."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from storelens.apps.api import RetentionWorker
from storelens.books.schema import access_log
from storelens.clock import iso, utc_now
from storelens.config import Config
from storelens.edge_events import ArrivalEvent, FootfallEvent


def arrival(days_ago: float, member: str) -> dict:
    return ArrivalEvent(store_id="s", camera_id="c", member_id=member, similarity=0.8, track_id=1,
                        ts=iso(utc_now() - timedelta(days=days_ago))).model_dump()  # fmt: skip


def footfall(days_ago: float) -> dict:
    start = (utc_now() - timedelta(days=days_ago)).replace(second=0, microsecond=0)
    return FootfallEvent(store_id="s", camera_id="c", interval_start=iso(start),
                         interval_end=iso(start + timedelta(minutes=15)), entries=2, unique_visitors=0,
                         vip_arrivals=0).model_dump()  # fmt: skip


@pytest.mark.parametrize(
    ("event_days", "ages", "kept"),
    [(30, [40, 31, 29, 1], [29, 1]), (365, [300, 200], [300, 200]), (1, [2, 0.5], [0.5])],
)
def test_events_older_than_the_rules_allow_are_deleted(store, event_days, ages, kept) -> None:
    member = f"M-{uuid.uuid4().hex[:8]}"
    for age in ages:
        store.events.add(arrival(age, member))
        store.events.add(footfall(age))
    old = arrival(ages[0], member)
    store.events.add(old)
    store.events.take(old["event_id"], "ipad")  # an associate took it: the acknowledgement goes with the event
    RetentionWorker(store, event_days, 365, every=3600).purge()
    remaining = store.events.footfall(iso(utc_now() - timedelta(days=400)), iso(utc_now() + timedelta(days=1)))
    assert len(remaining) == len(kept)
    old_kept = ages[0] in kept
    assert store.events.count("vip_arrival", since=iso(utc_now() - timedelta(days=400))) == len(kept) + old_kept
    assert bool(store.events.taken([old["event_id"]])) == old_kept


def test_access_log_entries_past_their_period_are_deleted(store) -> None:
    member = f"M-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        store.access.log_access(member, "ipad-1", "associate", "card", "arrival")
    with store.engine.begin() as conn:  # two of them were written 100 days ago (picked by row: the three may share
        # one millisecond, and picking by time then aged all three)
        ids = conn.execute(select(access_log.c.id).where(access_log.c.member_ref == member)
                           .order_by(access_log.c.id)).scalars().all()  # fmt: skip
        conn.execute(update(access_log).where(access_log.c.id.in_(ids[:2]))
                     .values(at=iso(utc_now() - timedelta(days=100))))  # fmt: skip
    deleted = RetentionWorker(store, 365, 90, every=3600).purge()
    assert deleted[1] >= 2 and len(store.access.access_log(member)) == 1


def test_the_worker_takes_its_periods_from_the_privacy_rules() -> None:
    from storelens.apps.api import ApiApp

    config = Config.model_validate({"store": {"id": "s"}, "cameras": [{"id": "c", "source": "0"}],
                                    "privacy": {"profile": "eu", "event_retention_days": 45},
                                    "api": {"database_url": "sqlite:///:memory:", "access_log_days": 30}})  # fmt: skip
    app = ApiApp(config)
    try:
        assert (app.retention.event_days, app.retention.access_log_days) == (45, 30)
    finally:
        app.stop()
