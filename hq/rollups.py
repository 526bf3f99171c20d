"""Footfall rolled up per store, camera and 15-minute bucket, so that no chain report parses JSON on its path.

An incremental job with a watermark: :meth:`Rollups.catch_up` reads the footfall events stored since the last
sequence number it rolled up (late and out-of-order events included: the sequence is the order of storage, and a
redelivered event is never stored twice) and adds them to typed columns, in one transaction with the new
watermark, so that two processes never count an event twice. Each bucket carries the store's local day and hour
(``[[stores]] timezone``; an hour by its UTC start, as autumn has two 01:00), so a report groups by them in SQL;
visitor tokens are kept per bucket, so unique visitors stay distinct over an hour or a day. A store whose time
zone changes is rolled up again from its raw events. Rows equal :func:`storelens.web.reports.footfall_rows` over
the raw events (tested).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Engine,
    Table,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from storelens.books.database import Part, open_part
from storelens.books.schema import events
from storelens.clock import floor_interval, iso
from storelens.hq.schema import buckets, day_tokens, days, rollup_tables, state, tokens
from storelens.web.reports import TILL_ELSEWHERE, Interval, Row, bucket, parse_ts, people_fields
from storelens.workers import Periodic

log = logging.getLogger(__name__)
BATCH = 20_000  # events rolled up per round trip
WATERMARK = "seq"


def _add_exits(conn: Any) -> None:
    """Version 2: exits and passers-by (people are counted from their bodies, both ways through the line)."""
    for table in ("rollup_footfall", "rollup_footfall_day"):
        for column in ("exits", "passers_by"):
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0"))


ROLLUPS = Part("rollups", rollup_tables, version=2, steps={1: _add_exits})
SUMS = ("entries", "vip_arrivals", "staff_excluded", "untokened", "unavailable", "exits", "passers_by")


class Rollups:
    """The footfall rollups on head office's database.

    Args:
        engine: the database the events are in.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        open_part(engine, ROLLUPS)
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        with engine.begin() as conn:  # the watermark exists before any catch-up: its row is the lock
            conn.execute(self._insert(state).values(key=WATERMARK, value="0").on_conflict_do_nothing())

    def catch_up(self, zones: dict[str, str]) -> int:
        """Roll up every footfall event stored since the watermark; returns how many.

        Args:
            zones: each known store's IANA time zone (others: UTC). A store whose zone changed since it was
                rolled up is rolled up again from all its events.
        """
        done = 0
        while True:
            with self.engine.begin() as conn:
                # the watermark row is written first: a second process waits here, then sees the new mark
                conn.execute(update(state).where(state.c.key == WATERMARK).values(value=state.c.value))
                held = {str(k): str(v) for k, v in conn.execute(select(state.c.key, state.c.value))}
                mark = int(held[WATERMARK])
                if not done:
                    self._rezone(conn, zones, held, mark)
                rows = conn.execute(
                    select(events.c.seq, events.c.payload)
                    .where(events.c.type == "footfall", events.c.seq > mark)
                    .order_by(events.c.seq)
                    .limit(BATCH)
                ).all()
                if not rows:
                    return done
                self._add(conn, [json.loads(p) for _, p in rows], zones)
                conn.execute(update(state).where(state.c.key == WATERMARK).values(value=str(int(rows[-1][0]))))
                done += len(rows)

    def _rezone(self, conn: Any, zones: dict[str, str], held: dict[str, str], mark: int) -> None:
        """Roll up again, up to the watermark, each store whose time zone is not the one its rollups used.

        Every store rolled up has its zone recorded (``zone:STORE``), so this reads only the small state table.
        """
        for key, used in sorted(held.items()):
            store_id = key.removeprefix("zone:")
            zone = zones.get(store_id, "UTC")
            if not key.startswith("zone:") or used == zone:
                continue
            log.info("rollups: store %s is now in %s (was %s): rolled up again", store_id, zone, used)
            for table in (buckets, tokens, days, day_tokens):
                conn.execute(table.delete().where(table.c.store_id == store_id))
            query = select(events.c.payload).where(
                events.c.type == "footfall", events.c.store_id == store_id, events.c.seq <= mark
            )
            self._add(conn, [json.loads(p) for (p,) in conn.execute(query)], zones)
            conn.execute(update(state).where(state.c.key == key).values(value=zone))

    def _add(self, conn: Any, payloads: list[dict[str, Any]], zones: dict[str, str]) -> None:
        sums: dict[tuple[str, str, str], dict[str, Any]] = {}
        seen: set[tuple[str, str, str, str]] = set()
        token_rows: list[dict[str, Any]] = []
        for ev in payloads:
            zone = ZoneInfo(zones.get(ev["store_id"], "UTC"))
            start = floor_interval(parse_ts(ev["interval_start"]), 15)
            local = start.astimezone(zone)
            key = (ev["store_id"], ev["camera_id"], iso(start))
            acc = sums.setdefault(
                key, {"local_day": local.strftime("%Y-%m-%d"), "hour_start": iso(bucket(start, "1h", zone)[0])}
                | dict.fromkeys(SUMS, 0),
            )  # fmt: skip
            named = set(ev.get("visitor_tokens") or ())
            acc["entries"] += int(ev["entries"])
            acc["vip_arrivals"] += int(ev["vip_arrivals"])
            acc["staff_excluded"] += int(ev.get("staff_excluded") or 0)
            acc["untokened"] += max(0, int(ev["unique_visitors"]) - len(named))
            acc["unavailable"] += int(ev.get("unique_visitors_available") is False)
            acc["exits"] += int(ev.get("exits") or 0)
            acc["passers_by"] += int(ev.get("passers_by") or 0)
            for token in named:
                if (*key, token) not in seen:
                    seen.add((*key, token))
                    token_rows.append(dict(zip(("store_id", "camera_id", "bucket_start"), key, strict=True))
                                      | {"token": token, "local_day": acc["local_day"],
                                         "hour_start": acc["hour_start"]})  # fmt: skip
        used = {k[0] for k in sums}
        if used:  # the zone each store was rolled up in: a later change of zone is found from the state table
            conn.execute(
                self._insert(state).on_conflict_do_nothing(),
                [{"key": f"zone:{s}", "value": zones.get(s, "UTC")} for s in sorted(used)],
            )
        per_day: dict[tuple[str, str, str], dict[str, int]] = {}
        for (store_id, camera_id, _), v in sums.items():
            acc_day = per_day.setdefault((store_id, camera_id, v["local_day"]), dict.fromkeys(SUMS, 0))
            for c in SUMS:
                acc_day[c] += v[c]
        for table, keys, rows in (
            (buckets, ("store_id", "camera_id", "bucket_start"), sums),
            (days, ("store_id", "camera_id", "local_day"), per_day),
        ):
            if rows:
                statement = self._insert(table)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[table.c[k] for k in keys],
                        set_={c: table.c[c] + statement.excluded[c] for c in SUMS},
                    ),
                    [dict(zip(keys, k, strict=True)) | v for k, v in rows.items()],
                )
        if token_rows:
            conn.execute(self._insert(tokens).on_conflict_do_nothing(), token_rows)
            by_day = {(t["store_id"], t["camera_id"], t["local_day"], t["token"]) for t in token_rows}
            conn.execute(
                self._insert(day_tokens).on_conflict_do_nothing(),
                [dict(zip(("store_id", "camera_id", "local_day", "token"), k, strict=True)) for k in sorted(by_day)],
            )

    def purge(self, before: str) -> int:
        """Drop buckets that began before ``before`` (the events' retention); returns how many."""
        first_day = (parse_ts(before) - timedelta(days=1)).strftime("%Y-%m-%d")  # whole days, in any zone
        with self.engine.begin() as conn:
            conn.execute(tokens.delete().where(tokens.c.bucket_start < before))
            conn.execute(day_tokens.delete().where(day_tokens.c.local_day < first_day))
            conn.execute(days.delete().where(days.c.local_day < first_day))
            return int(conn.execute(buckets.delete().where(buckets.c.bucket_start < before)).rowcount or 0)

    def rows(self, windows: dict[str, tuple[datetime, datetime]], default: tuple[datetime, datetime],
             zones: dict[str, str], interval: Interval, others: bool = True) -> list[Row]:  # fmt: skip
        """Store rows (the ``all`` row where the store has several cameras in the window), by store then time.

        Args:
            windows: each known store's [start, end) in UTC (its own local days).
            default: the window of stores head office does not list (UTC).
            zones: each known store's time zone.
            interval: 15m, 1h or 1d.
            others: also the stores ``windows`` does not name, over ``default`` (False: those of ``windows`` only).
        """
        groups: dict[tuple[datetime, datetime], list[str]] = defaultdict(list)
        for store_id, window in windows.items():
            groups[window].append(store_id)
        out: dict[str, list[Row]] = defaultdict(list)
        with self.engine.connect() as conn:
            for window, stores in groups.items():
                self._window(conn, window, stores, zones, interval, out)
            unlisted = self._unlisted(conn, windows) if others else []
            if unlisted:
                self._window(conn, default, unlisted, zones, interval, out)
        return [r for store_id in sorted(out) for r in sorted(out[store_id], key=lambda r: r.interval_start)]

    @staticmethod
    def _unlisted(conn: Any, listed: dict[str, Any]) -> list[str]:
        """The stores rolled up that head office does not list: their rows come as store rows, in UTC.

        Read from the small state table, where every store rolled up has its zone recorded. With none, no pass over
        the period is made for them (at 10,000 stores, a second pass over a year of day rows).
        """
        keys = conn.execute(select(state.c.key).where(state.c.key.startswith("zone:"))).scalars()
        return sorted(k.removeprefix("zone:") for k in keys if k.removeprefix("zone:") not in listed)

    def grouped_day_rows(
        self,
        windows: dict[str, tuple[datetime, datetime]],
        default: tuple[datetime, datetime],
        zones: dict[str, str],
        group_of: dict[str, str],
    ) -> list[Row] | None:
        """Whole local days summed per group (region, or the chain) in the database: a few rows, whatever the size.

        For ``ChainReports._grouped`` to merge: one row per group, zone and day, named after one of the group's
        stores; the stores head office does not list come as store rows. None when a window is not whole local
        days (the caller reads store rows).

        Args:
            windows: each known store's [start, end) in UTC (its own local days).
            default: the window of stores head office does not list (UTC).
            zones: each known store's time zone.
            group_of: each known store's group.
        """
        plan: dict[tuple[tuple[datetime, datetime], str], list[str]] = defaultdict(list)
        for store_id, window in sorted(windows.items()):
            plan[(window, group_of[store_id])].append(store_id)
        if not all(_midnights(w, s, zones) for (w, _), s in plan.items()) or not _midnights(default, None, zones):
            return None
        out: dict[str, list[Row]] = defaultdict(list)
        with self.engine.connect() as conn:
            unlisted = self._unlisted(conn, windows)
            spans = {_local_days(w, stores, zones) for (w, _), stores in plan.items()}
            named = {_zone_of(stores, zones).key: stores[0] for stores in plan.values()}
            # One group (the chain) and every store listed: its stores of a zone are the stores whose rollups
            # recorded that zone, so one pass over the period grouped by the recorded zone sums every plan at once
            # (a year of 10,000 stores read once, not once per zone).
            if len({g for _, g in plan}) == 1 and not unlisted and len(spans) == 1 and len(named) == len(plan):
                self._group_days(conn, *next(iter(spans)), out, named=named)
            else:
                for (window, _), stores in plan.items():
                    lo, hi = _local_days(window, stores, zones)
                    self._group_days(conn, lo, hi, out, stores, _zone_of(stores, zones))
            if unlisted:
                self._window(conn, default, unlisted, zones, "1d", out)
        return [r for rows in out.values() for r in rows]

    def _group_days(
        self,
        conn: Any,
        lo: str,
        hi: str,
        out: dict[str, list[Row]],
        stores: list[str] | None = None,
        zone: ZoneInfo | None = None,
        named: dict[str, str] | None = None,
    ) -> None:
        """Stores' day rollups of local days [lo, hi) summed per local day, in one row each.

        Either one group's ``stores`` of one ``zone``, or (no ``stores``) every store in one pass, summed per zone
        as each store's rollups recorded it; ``named``: each zone's first store, whose name its rows carry (for
        ``ChainReports._grouped`` to merge).
        """
        keyed = [] if stores is not None else [state.c.value]  # grouped by the recorded zone too

        def scoped(table: Table) -> tuple[Any, list[Any]]:
            where = [table.c.local_day >= lo, table.c.local_day < hi]
            if stores is not None:
                return table, [*where, table.c.store_id.in_(stores)]
            return table.join(state, state.c.key == literal("zone:") + table.c.store_id), where

        source, where = scoped(day_tokens)
        per_store = (
            select(*keyed, day_tokens.c.local_day, func.count(day_tokens.c.token.distinct()).label("n"))
            .select_from(source)
            .where(*where)
            .group_by(*keyed, day_tokens.c.store_id, day_tokens.c.local_day)
            .subquery()
        )
        outer = [per_store.c.value] if keyed else []
        distinct = {
            (str(r[0]) if keyed else "", str(r[-2])): int(r[-1])
            for r in conn.execute(
                select(*outer, per_store.c.local_day, func.sum(per_store.c.n)).group_by(*outer, per_store.c.local_day)
            )
        }
        source, where = scoped(days)
        query = (
            select(*keyed, days.c.local_day, *(func.sum(days.c[c]) for c in SUMS))
            .select_from(source)
            .where(*where)
            .group_by(*keyed, days.c.local_day)
        )
        for row in conn.execute(query):
            key = str(row[0]) if keyed else ""
            day, entries, vip, staff, untokened, unavailable, exits, passers = row[len(keyed) :]
            tz = zone if zone is not None else ZoneInfo(str(key))
            first = stores[0] if stores else (named or {}).get(str(key), str(key))
            start, end = bucket(datetime.combine(date.fromisoformat(str(day)), time(0), tz), "1d", tz)
            unique = None if unavailable else distinct.get((str(key), str(day)), 0) + int(untokened)
            local = start.astimezone(tz).isoformat(timespec="minutes")
            out[first].append(
                Row(
                    first,
                    "all",
                    iso(start),
                    iso(end),
                    local,
                    int(entries),
                    unique,
                    int(vip),
                    int(staff),
                    **TILL_ELSEWHERE,
                    **people_fields(int(entries), int(exits), int(passers)),
                )
            )

    def _window(
        self,
        conn: Any,
        window: tuple[datetime, datetime],
        stores: list[str] | None,
        zones: dict[str, str],
        interval: Interval,
        out: dict[str, list[Row]],
    ) -> None:
        whole_days = interval == "1d" and _midnights(window, stores, zones)
        if whole_days:  # a day's rows read one row per camera and day
            column, lo, hi, key_of = "local_day", *_local_days(window, stores, zones), "local_day"
            sums_table, names = days, day_tokens
        else:
            column, lo, hi = "bucket_start", iso(window[0]), iso(window[1])
            key_of = {"15m": "bucket_start", "1h": "hour_start", "1d": "local_day"}[interval]
            sums_table, names = buckets, tokens

        def where(table: Table) -> list[Any]:
            conds = [table.c[column] >= lo, table.c[column] < hi]
            if stores is not None:
                conds.append(table.c.store_id.in_(stores))
            return conds

        cameras = {
            str(s): (int(n), str(c))
            for s, n, c in conn.execute(
                select(
                    sums_table.c.store_id,
                    func.count(sums_table.c.camera_id.distinct()),
                    func.min(sums_table.c.camera_id),
                )
                .where(*where(sums_table))
                .group_by(sums_table.c.store_id)
            )
        }
        if not cameras:
            return
        distinct = {
            (str(s), str(k)): int(n)
            for s, k, n in conn.execute(
                select(names.c.store_id, names.c[key_of], func.count(names.c.token.distinct()))
                .where(*where(names))
                .group_by(names.c.store_id, names.c[key_of])
            )
        }
        query = (
            select(
                sums_table.c.store_id,
                sums_table.c[key_of],
                func.min(sums_table.c[column]),
                *(func.sum(sums_table.c[c]) for c in SUMS),
            )
            .where(*where(sums_table))
            .group_by(sums_table.c.store_id, sums_table.c[key_of])
        )
        for store_id, key, first, entries, vip, staff, untokened, unavailable, exits, passers in conn.execute(query):
            zone = ZoneInfo(zones.get(store_id, "UTC"))
            at = datetime.combine(date.fromisoformat(first), time(0), zone) if whole_days else parse_ts(first)
            start, end = bucket(at, interval, zone)
            count, camera = cameras[store_id]
            out[store_id].append(
                Row(
                    store_id,
                    camera if count == 1 else "all",
                    iso(start),
                    iso(end),
                    start.astimezone(zone).isoformat(timespec="minutes"),
                    int(entries),
                    None if unavailable else distinct.get((store_id, str(key)), 0) + int(untokened),
                    int(vip),
                    int(staff),
                    **TILL_ELSEWHERE,
                    **people_fields(int(entries), int(exits), int(passers)),
                )
            )


def _zone_of(stores: list[str] | None, zones: dict[str, str]) -> ZoneInfo:
    """The one time zone of a window's stores (a window is shared by stores of one zone); UTC for the unlisted."""
    return ZoneInfo(zones.get(stores[0], "UTC") if stores else "UTC")


def _midnights(window: tuple[datetime, datetime], stores: list[str] | None, zones: dict[str, str]) -> bool:
    """Whether the window runs from a local midnight to a local midnight of its stores' zone."""
    if stores is not None and len({zones.get(s, "UTC") for s in stores}) != 1:
        return False
    zone = _zone_of(stores, zones)
    return all(t.astimezone(zone).timetz().replace(tzinfo=None) == time(0) for t in window)


def _local_days(window: tuple[datetime, datetime], stores: list[str] | None, zones: dict[str, str]) -> tuple[str, str]:
    zone = _zone_of(stores, zones)
    return window[0].astimezone(zone).strftime("%Y-%m-%d"), window[1].astimezone(zone).strftime("%Y-%m-%d")


class RollupWorker(Periodic):
    """Rolls up what the ingest stored, every few seconds, so that a report's own catch-up has little to do.

    Args:
        rollups: the rollups.
        zones: each known store's time zone.
        every: seconds between two rounds.
    """

    def __init__(self, rollups: Rollups, zones: dict[str, str], every: float = 5.0) -> None:
        super().__init__("rollups", every, retry_on=(SQLAlchemyError,))
        self.rollups, self.zones = rollups, zones

    def tick(self) -> None:
        """One catch-up."""
        if done := self.rollups.catch_up(self.zones):
            log.debug("rolled up %d footfall event(s)", done)
