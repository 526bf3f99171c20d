"""The store's event database: SQLite by default, PostgreSQL when a database URL says so (SQLAlchemy Core).

Events are stored once per ``event_id`` however often MQTT redelivers them; device tokens are kept
only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import (
    Engine,
    create_engine,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from storelens.api.commerce import member_purchases, member_value, store_sales, unlink_member
from storelens.api.imports import ImportReport, Kind, import_stream
from storelens.api.schema import (
    SCHEMA_VERSION,
    access_log,
    acks,
    events,
    members,
    meta,
    metadata,
    quarantine,
    tokens,
)
from storelens.clock import iso, utc_now
from storelens.errors import DatabaseError
from storelens.events import EVENT_ADAPTER, ArrivalEvent, FootfallEvent, VisitorEvent
from storelens.migrations import pending_steps

log = logging.getLogger(__name__)


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, None for any other database (readers check it exists first)."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def token_hash(token: str) -> str:
    """How a token is stored: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


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
            first = exc.errors(include_url=False)[0]
            reason = f"{'.'.join(str(p) for p in first['loc'][1:]) or 'payload'}: {first['msg']}"[:500]
        conn.execute(insert(quarantine).values(seq=seq, payload=payload, reason=reason, moved_at=moved_at))
        conn.execute(events.delete().where(events.c.seq == seq))
        log.warning("event store: stored event %d is not a valid event (%s); moved to events_quarantine", seq, reason)


def _access_log(conn: Any) -> None:
    """Schema 3 -> 4: the ``access_log`` table (``metadata.create_all`` made it when the store opened)."""


def _commerce(conn: Any) -> None:
    """Schema 4 -> 5: the commerce tables (made by ``create_all``) and the members' CRM columns."""
    have = {c["name"] for c in inspect(conn).get_columns("members")}  # create_all made a new table whole
    for column, kind in (("home_store", "VARCHAR(64)"), ("crm_hash", "VARCHAR(64)")):
        if column not in have:
            conn.execute(text(f"ALTER TABLE members ADD COLUMN {column} {kind}"))


MIGRATIONS: dict[int, Callable[[Any], None]] = {
    1: _add_member_id,
    2: _quarantine_invalid,
    3: _access_log,
    4: _commerce,
}  # version -> the step to version + 1


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its sequence number (for replay) and payload."""

    seq: int
    payload: dict[str, Any]


class EventStore:
    """Events and tokens in one database.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///events.sqlite`` or ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
                if row is None:  # a new database: create_all made the current schema
                    conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                else:
                    self._migrate(conn, int(row[0]))
        except (OperationalError, SQLAlchemyError) as exc:
            raise DatabaseError(
                f"{self.safe_url if hasattr(self, 'engine') else url}: cannot use the event "
                f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            ) from exc

    def _migrate(self, conn: Any, found: int) -> None:
        """Bring a store of schema ``found`` forward, inside the opening transaction."""
        steps = pending_steps(found, SCHEMA_VERSION, MIGRATIONS, self.safe_url)
        for _, step in steps:
            step(conn)
        if steps:
            conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
            log.info("%s: event store migrated from schema %d to %d", self.safe_url, found, SCHEMA_VERSION)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def _row(self, payload: dict[str, Any]) -> dict[str, Any]:
        ts = payload.get("ts") or payload.get("interval_start") or iso(utc_now())
        return {
            "event_id": payload["event_id"],
            "type": payload["type"],
            "store_id": payload["store_id"],
            "camera_id": payload["camera_id"],
            "ts": ts,
            "member_id": payload.get("member_id"),
            "payload": json.dumps(payload, separators=(",", ":")),
            "received_at": iso(utc_now()),
        }

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
            payload = EVENT_ADAPTER.validate_python(payload).model_dump()
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"][1:]) or "payload"
            raise DatabaseError(f"not a valid event, not stored: {where}: {first['msg']}") from exc
        statement = self._insert().values(**self._row(payload)).on_conflict_do_nothing().returning(events.c.seq)
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
        rows = [self._row(m.model_dump()) for m in models]
        # executemany with RETURNING: SQLAlchemy sends it as a few multi-row INSERTs from one cached statement
        statement = self._insert().on_conflict_do_nothing().returning(events.c.event_id, events.c.seq)
        with self.engine.begin() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(statement, rows)}

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

    def add_token(self, token: str, name: str, role: str) -> None:
        """Remember a device token (hashed)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(tokens).values(token_hash=token_hash(token), name=name, role=role, created_at=iso(utc_now()))
            )

    def token(self, token: str) -> tuple[str, str] | None:
        """(name, role) of a token, or None when unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tokens.c.name, tokens.c.role).where(tokens.c.token_hash == token_hash(token))
            ).first()
        return (str(row[0]), str(row[1])) if row else None

    # --- members -----------------------------------------------------------------------------

    def put_member(self, member_id: str, fields: dict[str, Any]) -> None:
        """Create or update a member profile (``sizes`` is a dict, stored as JSON)."""
        values = dict(fields)
        if values.get("phone"):
            values["phone"] = "".join(ch for ch in values["phone"] if ch.isdigit() or ch == "+")
        if "sizes" in values:
            values["sizes"] = json.dumps(values["sizes"])
        if "photo_consent" in values:
            values["photo_consent"] = int(bool(values["photo_consent"]))
        values["updated_at"] = iso(utc_now())
        with self.engine.begin() as conn:
            exists = conn.execute(select(members.c.member_id).where(members.c.member_id == member_id)).first()
            if exists:
                conn.execute(members.update().where(members.c.member_id == member_id).values(**values))
            else:
                conn.execute(insert(members).values(member_id=member_id, **values))

    def member(self, member_id: str) -> dict[str, Any] | None:
        """A member profile, or None when there is none."""
        return self._one(members.c.member_id == member_id)

    def find_member(self, phone: str | None = None, code: str | None = None) -> dict[str, Any] | None:
        """A member by phone number or member code (a non-face way to the card)."""
        if phone:
            digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
            return self._one(members.c.phone == digits)
        if code:
            return self._one(members.c.member_code == code)
        return None

    def _one(self, where: Any) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(members).where(where)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["sizes"] = json.loads(out["sizes"] or "{}")
        out["photo_consent"] = bool(out["photo_consent"])
        return out

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

    # --- access log ---------------------------------------------------------------------------

    def log_access(self, member_id: str, who: str, role: str, what: str, why: str) -> None:
        """Record one read of a member's data (``what``: card, profile, photo, consent, export)."""
        with self.engine.begin() as conn:
            conn.execute(insert(access_log).values(at=iso(utc_now()), member_ref=member_id, who=who[:128], role=role,
                                                   what=what, why=why))  # fmt: skip

    def access_log(self, member_ref: str) -> list[dict[str, Any]]:
        """Every recorded read of a member (or of an erased member, by receipt id), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(access_log.c.at, access_log.c.who, access_log.c.role, access_log.c.what, access_log.c.why)
                .where(access_log.c.member_ref == member_ref)
                .order_by(access_log.c.id)
            ).all()
        return [{"at": r[0], "who": r[1], "role": r[2], "what": r[3], "why": r[4]} for r in rows]

    def purge_access_log(self, days: int) -> int:
        """Drop access-log entries older than ``days``; returns how many."""
        cutoff = iso(utc_now() - timedelta(days=days))
        with self.engine.begin() as conn:
            return int(conn.execute(access_log.delete().where(access_log.c.at < cutoff)).rowcount or 0)

    def purge_events(self, days: int) -> int:
        """Drop events (and their acknowledgements) whose time is older than ``days``; returns how many."""
        cutoff = iso(utc_now() - timedelta(days=days))
        with self.engine.begin() as conn:
            old = select(events.c.event_id).where(events.c.ts < cutoff)
            conn.execute(acks.delete().where(acks.c.event_id.in_(old)))
            return int(conn.execute(events.delete().where(events.c.ts < cutoff)).rowcount or 0)

    def erase_member(self, member_id: str, receipt_id: str | None = None) -> dict[str, int]:
        """Delete the profile, arrival events, acknowledgements, value segment and recommendations of a member.

        Their purchases stay in the books without their id. Returns counts.

        The access log is kept (who looked at the member, and when, stays accountable), with the member
        id replaced by ``receipt_id``, the erasure receipt's id.
        """
        with self.engine.begin() as conn:
            if receipt_id:
                conn.execute(access_log.update().where(access_log.c.member_ref == member_id).values(
                    member_ref=receipt_id))  # fmt: skip
            ids = [r[0] for r in conn.execute(select(events.c.event_id).where(events.c.member_id == member_id))]
            n_acks = conn.execute(acks.delete().where(acks.c.event_id.in_(ids))).rowcount if ids else 0
            n_events = conn.execute(events.delete().where(events.c.member_id == member_id)).rowcount
            n_profile = conn.execute(members.delete().where(members.c.member_id == member_id)).rowcount
            commerce = unlink_member(conn, member_id)
        return {
            "profile": int(n_profile or 0),
            "arrival_events": int(n_events or 0),
            "acknowledgements": int(n_acks or 0),
            **commerce,
        }

    def purchases(self, member_id: str) -> list[dict[str, Any]]:
        """Every purchase linked to a member, with its lines."""
        with self.engine.connect() as conn:
            return member_purchases(conn, member_id)

    def member_value(self, member_id: str, currency: str) -> dict[str, Any]:
        """The card's purchases, value and recommendations (``storelens.api.commerce.member_value``)."""
        with self.engine.connect() as conn:
            return member_value(conn, member_id, currency, utc_now())

    def sales(self, start: str, end: str, store_id: str | None = None) -> dict[str, list[tuple[str, int, str, bool]]]:
        """Per store (or the one given): its transactions in [start, end) (``commerce.store_sales``)."""
        with self.engine.connect() as conn:
            return store_sales(conn, start, end, store_id)

    def import_file(self, kind: Kind, binary: IO[bytes], name: str) -> ImportReport:
        """Import a CRM, catalogue or POS file, all or nothing (``storelens.api.imports``)."""
        return import_stream(self.engine, kind, binary, name)

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

    def taken(self, event_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Who took which of these arrivals, and when."""
        if not event_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(acks.c.event_id, acks.c.taken_by, acks.c.at).where(acks.c.event_id.in_(event_ids))
            )
            return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def has_event(self, event_id: str, kind: str | None = None) -> bool:
        """Whether an event is stored."""
        query = select(events.c.seq).where(events.c.event_id == event_id)
        if kind:
            query = query.where(events.c.type == kind)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()
