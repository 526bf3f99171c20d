"""Head office's events on PostgreSQL, partitioned by month: converted once with every row kept, still stored
once per event id, a month's report reads only its month, and retention drops whole months."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from storelens.books.event_log import EventLog
from storelens.clock import iso, utc_now
from storelens.edge_events import ArrivalEvent, FootfallEvent
from storelens.hq.partitions import drop_months_before, is_partitioned, partition_by_month


@pytest.fixture
def url(postgres) -> str:
    name = f"hq_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def footfall(days_ago: int, entries: int) -> dict:
    start = (utc_now() - timedelta(days=days_ago)).replace(minute=0, second=0, microsecond=0)
    return FootfallEvent(store_id="s1", camera_id="door", interval_start=iso(start),
                         interval_end=iso(start + timedelta(minutes=15)), entries=entries, unique_visitors=0,
                         vip_arrivals=0).model_dump()  # fmt: skip


def test_events_partitioned_by_month_keep_every_row_once(url: str) -> None:
    store = EventLog(url)
    old = [footfall(d, d) for d in (100, 40, 1)]  # 60 days apart: the oldest is in an earlier month, whatever today
    for event in old:
        assert store.add(event) is not None
    made = partition_by_month(store.engine, utc_now())
    assert is_partitioned(store.engine) and len(made) >= 16
    assert store.count() == 3  # moved, none lost
    assert store.add(old[0]) is None  # still once per event id
    fresh = store.add(footfall(0, 5))
    assert fresh is not None and fresh > 3  # the sequence goes on
    arrival = ArrivalEvent(store_id="s1", camera_id="door", member_id="M-1", similarity=0.9, track_id=1).model_dump()
    assert store.add(arrival) is not None and store.erase_member("M-1")["arrival_events"] == 1
    assert partition_by_month(store.engine, utc_now()) == made  # again: nothing changes, nothing fails
    store.close()
    again = EventLog(url)  # a later start opens the partitioned table as it is
    assert again.count() == 4 and is_partitioned(again.engine)

    month = utc_now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with again.engine.connect() as conn:  # closed at once: an open transaction would hold the drop below
        explained = conn.execute(
            text("EXPLAIN SELECT payload FROM events WHERE type = 'footfall' AND ts >= :a AND ts < :b"),
            {"a": iso(month), "b": iso(month + timedelta(days=1))},
        )
        plan = " ".join(r[0] for r in explained)
    assert f"events_{month:%Y_%m}" in plan and f"events_{month - timedelta(days=40):%Y_%m}" not in plan

    forty = utc_now() - timedelta(days=40)
    dropped = drop_months_before(again.engine, forty.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    assert f"events_{utc_now() - timedelta(days=100):%Y_%m}" in dropped
    assert again.count() == 4 - 1  # the 100-day-old month went; the rest stays
    again.close()
