"""Footfall rollups equal a recomputation from the raw events: random events, late, duplicated and out of
order, across the European and American DST changes, in three time zones and one unknown store; SQLite and
PostgreSQL; two processes catching up at once count nothing twice."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from storelens.api.books import StoreBooks
from storelens.clock import iso
from storelens.config import ChainStore
from storelens.edge_events import FootfallEvent
from storelens.hq.chain_reports import ChainReports
from storelens.hq.rollups import Rollups

STORES = {
    "paris": ChainStore(id="paris", region="FR", timezone="Europe/Paris"),
    "ny": ChainStore(id="ny", region="US", timezone="America/New_York"),
    "tokyo": ChainStore(id="tokyo", region="JP", timezone="Asia/Tokyo"),
}
CAMERAS = {"paris": ["door", "side"], "ny": ["door"], "tokyo": ["door"], "popup": ["door"]}  # popup: not listed
FIRST = datetime(2026, 10, 23, tzinfo=UTC)  # Europe leaves summer time on 10-25, America on 11-01


def random_events(rng: random.Random, n: int) -> list[FootfallEvent]:
    out = []
    for _ in range(n):
        store = rng.choice(sorted(CAMERAS))
        start = FIRST + timedelta(minutes=rng.randrange(0, 11 * 24 * 60))  # any minute: buckets are 15 minutes
        named = rng.sample(["t1", "t2", "t3", "t4", "t5"], rng.randrange(0, 3))
        available = rng.random() > 0.05
        out.append(FootfallEvent(
            store_id=store, camera_id=rng.choice(CAMERAS[store]), interval_start=iso(start),
            interval_end=iso(start + timedelta(minutes=1)), entries=rng.randrange(0, 6),
            unique_visitors=(len(named) + rng.randrange(0, 2)) if available else 0,
            visitor_tokens=tuple(named) if available else (), unique_visitors_available=available,
            vip_arrivals=rng.randrange(0, 2), staff_excluded=rng.randrange(0, 2), exits=rng.randrange(0, 4),
            passers_by=rng.randrange(0, 4)))  # fmt: skip
    return out


def same(reports: ChainReports, start: str, end: str) -> None:
    for interval in ("1d", "1h", "15m"):
        for level in ("store", "region", "chain"):
            got = reports.rows(start, end, interval, level)  # type: ignore[arg-type]
            want = reports.rows_from_events(start, end, interval, level)  # type: ignore[arg-type]
            assert got == want, (interval, level)
            assert got or level != "store"
            assert any(r.exits for r in got) and any(r.capture_rate for r in got), (interval, level)
            assert any(r.occupancy for r in got), (interval, level, [(r.entries, r.exits) for r in got][:8])
        every = reports.rows_from_events(start, end, interval)  # type: ignore[arg-type]
        for store_id in [*STORES, "popup"]:
            assert reports.rows(start, end, interval, "store", store_id) == [  # type: ignore[arg-type]
                r for r in every if r.store_id == store_id
            ]


def test_rollups_equal_the_raw_events(store: StoreBooks) -> None:
    rng = random.Random(23)
    events = random_events(rng, 1500)
    rng.shuffle(events)  # stored out of order
    reports = ChainReports(store.events, STORES, "EUR")
    store.events.add_many(events[:900])
    assert reports.catch_up() == sum(1 for _ in events[:900])
    late = events[900:] + rng.sample(events[:900], 100)  # late ones, and 100 redelivered (stored once)
    store.events.add_many(late)
    same(reports, "2026-10-24", "2026-11-02")
    same(reports, "2026-10-25T00:00:00+02:00", "2026-10-26T12:00:00Z")  # times, not dates
    assert reports.catch_up() == 0  # nothing new: nothing read again
    # every store listed (the pop-up too): the chain's days summed in one pass by each store's recorded zone
    everyone = ChainReports(store.events, {**STORES, "popup": ChainStore(id="popup", timezone="UTC")}, "EUR")
    same(everyone, "2026-10-24", "2026-11-02")


def test_a_store_that_moves_to_another_zone_is_rolled_up_again(store: StoreBooks) -> None:
    store.events.add_many(random_events(random.Random(5), 300))
    ChainReports(store.events, STORES, "EUR").catch_up()
    moved = {**STORES, "tokyo": ChainStore(id="tokyo", region="JP", timezone="Pacific/Auckland")}
    same(ChainReports(store.events, moved, "EUR"), "2026-10-24", "2026-11-02")


def test_two_processes_catching_up_at_once_count_each_event_once(store: StoreBooks) -> None:
    store.events.add_many(random_events(random.Random(9), 2000))
    first, second = Rollups(store.engine), Rollups(store.engine)
    zones = {s: m.timezone for s, m in STORES.items()}
    counted: list[int] = []
    threads = [threading.Thread(target=lambda r=r: counted.append(r.catch_up(zones))) for r in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counted) == 2000
    same(ChainReports(store.events, STORES, "EUR"), "2026-10-24", "2026-11-02")


@pytest.mark.parametrize("days", [30])
def test_retention_drops_old_buckets(store: StoreBooks, days: int) -> None:
    store.events.add_many(random_events(random.Random(1), 200))
    rollups = Rollups(store.engine)
    rollups.catch_up({})
    assert rollups.purge("2026-10-28T00:00:00.000Z") > 0
    assert all(r.interval_start >= "2026-10-28" for r in rollups.rows({}, (FIRST, FIRST + timedelta(days=days)), {},
                                                                       "15m"))  # fmt: skip
