"""The events store: every event once per ``event_id`` however often MQTT redelivers it.

With the associates' acknowledgements of arrivals and the rows an older ingest stored invalid (quarantined).
SQLite by default, PostgreSQL when a database URL says so (SQLAlchemy Core); the box and head office both keep one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from storelens.books.database import Book, Part
from storelens.books.schema import acks, event_tables, events, meta, quarantine, verdicts
from storelens.clock import iso, utc_now
from storelens.edge_events import EVENT_ADAPTER, ArrivalEvent, FootfallEvent, VisitorEvent
from storelens.errors import DatabaseError, first_error

log = logging.getLogger(__name__)


def _add_member_id(conn: Any) -> None:
    """Schema 1 -> 2: ``events.member_id``, filled in from the stored arrivals."""
    conn.execute(text("ALTER TABLE events ADD COLUMN member_id VARCHAR(128)"))
    rows = conn.execute(select(events.c.seq, events.c.payload).where(events.c.type == "vip_arrival")).all()
    for seq, payload in rows:
        member = json.loads(payload).get("member_id")
        conn.execute(events.update().where(events.c.seq == seq).values(member_id=member))
    conn.execute(text("CREATE INDEX ix_events_member_id ON events (member_id)"))


def _quarantine_invalid(conn: Any) -> None:
    """Schema 2 -> 3: move stored rows that are not valid events (an older ingest trusted too much) aside.

    Readers then never meet one (an arrival whose ``ts`` is not a time broke every iPad's replay).
    """
    moved_at = iso(utc_now())
    for seq, payload in conn.execute(select(events.c.seq, events.c.payload)).all():
        try:
            EVENT_ADAPTER.validate_json(payload)
            continue
        except ValidationError as exc:
            reason = ": ".join(first_error(exc, skip=1))[:500]
        conn.execute(insert(quarantine).values(seq=seq, payload=payload, reason=reason, moved_at=moved_at))
        conn.execute(events.delete().where(events.c.seq == seq))
        log.warning("event store: stored event %d is not a valid event (%s); moved to events_quarantine", seq, reason)


def _add_verdicts(conn: Any) -> None:
    """Schema 3 -> 4: the ``verdicts`` table (``create_all`` made it already; this makes sure of it)."""
    verdicts.create(conn, checkfirst=True)


EVENTS = Part(
    "events",
    event_tables,
    version=4,  # 2: events.member_id; 3: events_quarantine; 4: verdicts
    steps={1: _add_member_id, 2: _quarantine_invalid, 3: _add_verdicts},
    legacy=lambda one_store: min(one_store, 3),  # one-store schemas 1-3 were these steps; 4 and 5 other tables'
)


@dataclass(frozen=True)
class Verdict:
    """An associate's word on an arrival, and who gave it when."""

    verdict: str
    by: str
    at: str


@dataclass(frozen=True)
class VerdictRow:
    """One verdict as the threshold and the console read it (no member, no image)."""

    camera_id: str
    similarity: float
    verdict: str
    at: str


COPY_COLUMNS = ("event_id", "type", "store_id", "camera_id", "ts", "member_id", "payload", "received_at")


def _model_row(model: ArrivalEvent | VisitorEvent | FootfallEvent, received_at: str) -> dict[str, Any]:
    """The row of a validated event (its payload is pydantic's compact JSON of it)."""
    return {
        "event_id": model.event_id,
        "type": model.type,
        "store_id": model.store_id,
        "camera_id": model.camera_id,
        "ts": model.interval_start if isinstance(model, FootfallEvent) else model.ts,
        "member_id": model.member_id if isinstance(model, ArrivalEvent) else None,
        "payload": model.model_dump_json(),
        "received_at": received_at,
    }


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its sequence number (for replay) and payload."""

    seq: int
    payload: dict[str, Any]


class EventLog(Book):
    """Events, their acknowledgements and the quarantine."""

    PART = EVENTS

    def _insert(self) -> Any:
        # Stored unless the event id is (on PostgreSQL with head office's monthly partitions the unique key
        # is (event_id, ts), and a redelivery carries the same ts).
        dialect = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        return dialect(events)

    def add(self, payload: dict[str, Any]) -> int | None:
        """Store an event unless its ``event_id`` is already stored; its sequence number when new, else None.

        Raises:
            DatabaseError: ``payload`` is not a valid event (what is stored is valid by construction).
        """
        try:
            model = EVENT_ADAPTER.validate_python(payload)
        except ValidationError as exc:
            where, why = first_error(exc, skip=1)
            raise DatabaseError(f"not a valid event, not stored: {where}: {why}") from exc
        row = _model_row(model, iso(utc_now()))
        statement = self._insert().values(**row).on_conflict_do_nothing().returning(events.c.seq)
        try:
            with self.engine.begin() as conn:
                seq = conn.execute(statement).scalar()
        except IntegrityError:  # a concurrent redelivery won the race
            return None
        return None if seq is None else int(seq)

    def add_many(self, models: list[ArrivalEvent | VisitorEvent | FootfallEvent]) -> dict[str, int]:
        """Store validated events in one transaction, each unless its ``event_id`` is already stored.

        Returns:
            The sequence number of each newly stored event, by event id (the others were stored before).
        """
        if not models:
            return {}
        received = iso(utc_now())
        rows = [_model_row(m, received) for m in {m.event_id: m for m in models}.values()]
        if self.engine.dialect.name == "postgresql":
            return self._copy_many(rows)
        # executemany with RETURNING: SQLAlchemy sends it as a few multi-row INSERTs from one cached statement
        statement = self._insert().on_conflict_do_nothing().returning(events.c.event_id, events.c.seq)
        with self.engine.begin() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(statement, rows)}

    def _copy_many(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """PostgreSQL: COPY the batch into a temporary table, then one INSERT ... SELECT skipping stored ids.

        Head office's bulk path: COPY moves rows several times faster than multi-row INSERTs, and the one
        statement keeps ``ON CONFLICT DO NOTHING`` (SQLAlchemy has no COPY: psycopg's own, written by hand).
        """
        with self.engine.begin() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS events_in (event_id varchar(64), type varchar(20), "
                "store_id varchar(64), camera_id varchar(64), ts varchar(32), member_id varchar(128), payload text, "
                "received_at varchar(32)) ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY events_in ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in COPY_COLUMNS])
            cursor.execute(
                f"INSERT INTO events ({', '.join(COPY_COLUMNS)}) SELECT {', '.join(COPY_COLUMNS)} FROM events_in "
                "ON CONFLICT DO NOTHING RETURNING event_id, seq"
            )
            return {str(r[0]): int(r[1]) for r in cursor.fetchall()}

    def count(self, kind: str | None = None, since: str | None = None) -> int:
        """Stored events (of one type, or all; with ``ts`` at or after ``since`` when given)."""
        query = select(func.count()).select_from(events)
        if kind:
            query = query.where(events.c.type == kind)
        if since:
            query = query.where(events.c.ts >= since)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def since(
        self, seq: int = 0, kind: str | None = None, limit: int = 500, ts_from: str | None = None
    ) -> list[StoredEvent]:
        """Events after sequence number ``seq`` (and with ``ts`` at or after ``ts_from``), oldest first."""
        query = select(events.c.seq, events.c.payload).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
        if kind:
            query = query.where(events.c.type == kind)
        if ts_from:
            query = query.where(events.c.ts >= ts_from)
        with self.engine.connect() as conn:
            return [StoredEvent(int(r[0]), json.loads(r[1])) for r in conn.execute(query)]

    def footfall(self, start: str, end: str, store_id: str | None = None) -> list[dict[str, Any]]:
        """Footfall events whose interval starts in [start, end)."""
        query = select(events.c.payload).where(events.c.type == "footfall", events.c.ts >= start, events.c.ts < end)
        if store_id:
            query = query.where(events.c.store_id == store_id)
        with self.engine.connect() as conn:
            return [json.loads(r[0]) for r in conn.execute(query.order_by(events.c.ts))]

    def visits(self, member_id: str, limit: int = 20) -> list[str]:
        """Times of the member's announced arrivals, newest first."""
        query = (
            select(events.c.ts)
            .where(events.c.type == "vip_arrival", events.c.member_id == member_id)
            .order_by(events.c.ts.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]

    def purge_events(self, days: int) -> int:
        """Drop events (and their acknowledgements) whose time is older than ``days``; returns how many."""
        cutoff = iso(utc_now() - timedelta(days=days))
        with self.engine.begin() as conn:
            old = select(events.c.event_id).where(events.c.ts < cutoff)
            conn.execute(acks.delete().where(acks.c.event_id.in_(old)))
            conn.execute(verdicts.delete().where(verdicts.c.at < cutoff))
            return int(conn.execute(events.delete().where(events.c.ts < cutoff)).rowcount or 0)

    def erase(self, conn: Any, member_id: str) -> dict[str, int]:
        """Delete a member's arrival events and their acknowledgements, in the caller's transaction; returns counts."""
        ids = [r[0] for r in conn.execute(select(events.c.event_id).where(events.c.member_id == member_id))]
        n_acks = conn.execute(acks.delete().where(acks.c.event_id.in_(ids))).rowcount if ids else 0
        if ids:  # the verdicts stay for the store's threshold (camera, similarity, word), linked to nothing
            conn.execute(verdicts.update().where(verdicts.c.event_id.in_(ids)).values(event_id=None))
        n_events = conn.execute(events.delete().where(events.c.member_id == member_id)).rowcount
        return {"arrival_events": int(n_events or 0), "acknowledgements": int(n_acks or 0)}

    def erase_member(self, member_id: str) -> dict[str, int]:
        """:meth:`erase` in a transaction of its own."""
        with self.engine.begin() as conn:
            return self.erase(conn, member_id)

    # --- acknowledgements ---------------------------------------------------------------------

    def take(self, event_id: str, by: str) -> tuple[str, str]:
        """Record that ``by`` takes an arrival; the first one wins. Returns (taken_by, at)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(acks).values(event_id=event_id, taken_by=by, at=iso(utc_now())))
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(select(acks.c.taken_by, acks.c.at).where(acks.c.event_id == event_id)).one()
        return str(row[0]), str(row[1])

    def judge(self, event_id: str, verdict: str, by: str) -> Verdict:
        """Record an associate's word on an arrival: ``confirmed`` (taken) or ``rejected`` ("Not this person").

        A rejection stands over an earlier confirmation (an associate who took the arrival may find it was
        someone else), never the reverse. Returns the verdict that stands.
        """
        now = iso(utc_now())
        with self.engine.begin() as conn:
            payload = conn.execute(select(events.c.payload).where(events.c.event_id == event_id)).scalar_one()
            arrival = json.loads(payload)
            row = {"camera_id": arrival["camera_id"], "similarity": float(arrival["similarity"]),
                   "verdict": verdict, "by": by, "at": now}  # fmt: skip
            found = conn.execute(select(verdicts.c.verdict).where(verdicts.c.event_id == event_id)).scalar()
            if found is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(verdicts).values(event_id=event_id, **row))
                except IntegrityError:  # another associate's word came first
                    found = "confirmed"
            if found == "confirmed" and verdict == "rejected":
                conn.execute(verdicts.update().where(verdicts.c.event_id == event_id).values(**row))
            stood = conn.execute(
                select(verdicts.c.verdict, verdicts.c.by, verdicts.c.at).where(verdicts.c.event_id == event_id)
            ).one()
        return Verdict(str(stood[0]), str(stood[1]), str(stood[2]))

    def verdicts(self, start: str, end: str) -> list[VerdictRow]:
        """The associates' verdicts given in [start, end), oldest first."""
        query = select(verdicts.c.camera_id, verdicts.c.similarity, verdicts.c.verdict, verdicts.c.at).where(
            verdicts.c.at >= start, verdicts.c.at < end
        )
        with self.engine.connect() as conn:
            return [
                VerdictRow(str(r[0]), float(r[1]), str(r[2]), str(r[3]))
                for r in conn.execute(query.order_by(verdicts.c.at))
            ]

    def arrivals_by_camera(self, start: str, end: str) -> dict[str, int]:
        """Arrivals announced in [start, end), per camera."""
        query = (
            select(events.c.camera_id, func.count())
            .where(events.c.type == "vip_arrival", events.c.ts >= start, events.c.ts < end)
            .group_by(events.c.camera_id)
        )
        with self.engine.connect() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(query)}

    def rejected(self, event_ids: list[str]) -> dict[str, Verdict]:
        """The rejections among these arrivals."""
        if not event_ids:
            return {}
        query = select(verdicts.c.event_id, verdicts.c.by, verdicts.c.at).where(
            verdicts.c.event_id.in_(event_ids), verdicts.c.verdict == "rejected"
        )
        with self.engine.connect() as conn:
            return {str(r[0]): Verdict("rejected", str(r[1]), str(r[2])) for r in conn.execute(query)}

    def taken(self, event_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Who took which of these arrivals, and when."""
        if not event_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(acks.c.event_id, acks.c.taken_by, acks.c.at).where(acks.c.event_id.in_(event_ids))
            )
            return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def cursor(self, name: str) -> int:
        """A worker's position in the event sequence (0: from the start), kept in the ``meta`` table."""
        with self.engine.connect() as conn:
            found = conn.execute(select(meta.c.value).where(meta.c.key == f"cursor.{name}")).scalar()
        return int(found) if found is not None else 0

    def set_cursor(self, name: str, seq: int) -> None:
        """Move a worker's position (after what it did up to ``seq`` is done)."""
        key = f"cursor.{name}"
        with self.engine.begin() as conn:
            if conn.execute(meta.update().where(meta.c.key == key).values(value=str(seq))).rowcount == 0:
                conn.execute(insert(meta).values(key=key, value=str(seq)))

    def has_event(self, event_id: str, kind: str | None = None) -> bool:
        """Whether an event is stored."""
        query = select(events.c.seq).where(events.c.event_id == event_id)
        if kind:
            query = query.where(events.c.type == kind)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None
