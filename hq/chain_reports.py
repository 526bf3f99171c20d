"""Chain reports: footfall and conversion per store, region or the whole chain, on each store's own days.

A period given as dates (or times without an offset) means each store's local time: ``2026-11-29`` is that
day from each store's own midnight (``[[stores]] timezone`` at head office, UTC when unknown). Store rows are
the store API's (:func:`storelens.web.reports.footfall_rows`); region and chain rows sum them per local
bucket, so a region's Monday is each of its stores' Monday.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select

from storelens.books.event_log import EventLog
from storelens.books.schema import events
from storelens.clock import iso
from storelens.config import ChainStore
from storelens.hq.rollups import Rollups
from storelens.web.reports import (
    TILL_ELSEWHERE,
    EmptyPeriod,
    Interval,
    Row,
    footfall_rows,
    parse_ts,
    people_fields,
    with_occupancy,
)

Level = Literal["store", "region", "chain"]
RankBy = Literal["entries", "conversion", "sales", "vip_arrivals", "capture_rate"]
UNASSIGNED = "unassigned"


def store_rows(rows: list[Row]) -> list[Row]:
    """One row per store and bucket: the ``all`` row where the store has several cameras, else its camera's."""
    several = {r.store_id for r in rows if r.camera_id == "all"}
    return [r for r in rows if r.camera_id == "all" or r.store_id not in several]


@dataclass
class _Acc:
    start: str
    end: str
    entries: int = 0
    exits: int = 0
    passers_by: int = 0
    unique: int | None = 0
    vip: int = 0
    staff: int = 0


class ChainReports:
    """Reports over every store's events in head office's database.

    Args:
        events: head office's event log.
        stores: the chain's stores by id (names, regions, time zones).
        currency: sales are summed in it.
    """

    def __init__(self, events: EventLog, stores: dict[str, ChainStore], currency: str) -> None:
        self.events, self.stores, self.currency = events, stores, currency
        self.rollups = Rollups(events.engine)
        self.zones = {s.id: s.timezone for s in stores.values()}

    def catch_up(self) -> int:
        """Roll up the footfall stored since the last time (``hq serve`` does it every few seconds)."""
        return self.rollups.catch_up(self.zones)

    def meta(self, store_id: str) -> ChainStore:
        """What head office knows of a store (an unknown one: its id, UTC, no region)."""
        return self.stores.get(store_id) or ChainStore(id=store_id)

    def rows(
        self, start: str, end: str, interval: Interval, level: Level = "store", store_id: str | None = None
    ) -> list[Row]:
        """Footfall, unique visitors, VIP arrivals and staff excluded per bucket at ``level``, from the rollups.

        ``store_id``: that store's rows only (a store manager's view).

        Raises:
            ValueError: ``start``/``end`` are not ISO 8601, or the period is empty.
        """
        windows, utc = self._windows(start, end)
        self.catch_up()  # what arrived since the last round: a few seconds' worth while hq serve runs
        if store_id is not None:
            out = self.rollups.rows({store_id: windows.get(store_id, utc)}, utc, self.zones, interval, others=False)
        elif level != "store" and interval == "1d":  # whole days of a region or the chain: summed in the database
            group_of = {s: self._group(s, level) for s in windows}
            summed = self.rollups.grouped_day_rows(windows, utc, self.zones, group_of)
            out = summed if summed is not None else self.rollups.rows(windows, utc, self.zones, interval)
        else:
            out = self.rollups.rows(windows, utc, self.zones, interval)
        return with_occupancy(out if level == "store" else self._grouped(out, level))

    def _windows(self, start: str, end: str) -> tuple[dict[str, tuple[datetime, datetime]], tuple[datetime, datetime]]:
        windows = {s: (parse_ts(start, m.timezone), parse_ts(end, m.timezone)) for s, m in self.stores.items()}
        utc = (parse_ts(start), parse_ts(end))
        if utc[1] <= utc[0]:
            raise EmptyPeriod()
        return windows, utc

    def rows_from_events(
        self, start: str, end: str, interval: Interval, level: Level = "store", store_id: str | None = None
    ) -> list[Row]:
        """:meth:`rows` computed from the raw events (every JSON payload parsed): the rollups' reference.

        Raises:
            ValueError: ``start``/``end`` are not ISO 8601, or the period is empty.
        """
        windows, utc = self._windows(start, end)
        lo = min([utc[0], *(a for a, _ in windows.values())])
        hi = max([utc[1], *(b for _, b in windows.values())])
        by_store: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ev in self.events.footfall(iso(lo), iso(hi), store_id):
            a, b = windows.get(ev["store_id"], utc)
            if iso(a) <= ev["interval_start"] < iso(b):
                by_store[ev["store_id"]].append(ev)
        out: list[Row] = []
        for store_id in sorted(by_store):
            zone = self.meta(store_id).timezone  # sales stay in each box's books: None, unavailable here
            out += store_rows(footfall_rows(by_store[store_id], interval, zone, None, self.currency))
        # the store rows already carry their occupancy (footfall_rows); grouped rows run their own
        return out if level == "store" else with_occupancy(self._grouped(out, level))

    def _group(self, store_id: str, level: Level) -> str:
        """The row a store's figures go into at ``level``: ``chain``, or ``region:NAME``."""
        return "chain" if level == "chain" else f"region:{self.meta(store_id).region or UNASSIGNED}"

    def _grouped(self, rows: list[Row], level: Level) -> list[Row]:
        groups: dict[tuple[str, str], _Acc] = {}
        for r in rows:
            key = self._group(r.store_id, level)
            local = r.local_start[:16]  # the local clock time, whatever each store's offset
            acc = groups.setdefault((key, local), _Acc(r.interval_start, r.interval_end))
            acc.start, acc.end = min(acc.start, r.interval_start), max(acc.end, r.interval_end)
            acc.entries += r.entries
            acc.exits += r.exits
            acc.passers_by += r.passers_by
            acc.unique = None if acc.unique is None or r.unique_visitors is None else acc.unique + r.unique_visitors
            acc.vip += r.vip_arrivals
            acc.staff += r.staff_excluded
        return [
            Row(
                key,
                "all",
                a.start,
                a.end,
                local,
                a.entries,
                a.unique,
                a.vip,
                a.staff,
                **TILL_ELSEWHERE,
                **people_fields(a.entries, a.exits, a.passers_by),
            )
            for (key, local), a in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]

    def ranking(self, start: str, end: str, by: RankBy = "entries") -> list[dict[str, Any]]:
        """Stores ranked over the period (best first), with their totals and region.

        Transactions, conversion and sales are None (unavailable): each box keeps its till's data; ranked by one of
        them, the stores come in the order of their ids.
        """
        totals: dict[str, dict[str, Any]] = {}
        for r in self.rows(start, end, "1d"):
            t = totals.setdefault(
                r.store_id,
                {"entries": 0, "exits": 0, "passers_by": 0, "vip_arrivals": 0, "transactions": None, "sales": None},
            )
            t["entries"] += r.entries
            t["exits"] += r.exits
            t["passers_by"] += r.passers_by
            t["vip_arrivals"] += r.vip_arrivals
        for t in totals.values():
            t["conversion"] = None  # the till's data stays in each box's books
            t["capture_rate"] = people_fields(t["entries"], t["exits"], t["passers_by"])["capture_rate"]
        ranked = sorted(totals.items(), key=lambda kv: (-(kv[1][by] or 0), kv[0]))
        return [
            {
                "rank": i + 1,
                "store_id": s,
                "name": self.meta(s).name,
                "region": self.meta(s).region,
                **t,
            }
            for i, (s, t) in enumerate(ranked)
        ]

    def arrivals(self, start: str, end: str) -> list[dict[str, Any]]:
        """VIP arrivals per store in [start, end) (UTC, or UTC midnight for dates) and how many members."""
        a, b = iso(parse_ts(start)), iso(parse_ts(end))
        query = (
            select(events.c.store_id, func.count(), func.count(events.c.member_id.distinct()))
            .where(events.c.type == "vip_arrival", events.c.ts >= a, events.c.ts < b)
            .group_by(events.c.store_id)
            .order_by(events.c.store_id)
        )
        with self.events.engine.connect() as conn:
            return [
                {"store_id": s, "region": self.meta(s).region, "arrivals": int(n), "members": int(m)}
                for s, n, m in conn.execute(query)
            ]
