"""Head office's events table on PostgreSQL, partitioned by month of the event's time.

A chain writes millions of events a month; monthly partitions keep each month's indexes small, let a
report read only the months it asks for, and let retention drop a whole month. PostgreSQL does the
partitioning (declarative range partitions on ``ts``, ISO 8601 text, so ``'2026-11' <= ts < '2026-12'``);
this module only converts the store API's plain ``events`` table once, and keeps partitions ready for the
months to come (``hq serve`` at start and daily). A unique key of a partitioned table must hold the
partition key: ``event_id`` is unique with ``ts``, and a redelivered event carries the same ``ts``, so every
event is still stored once. SQLite (a single box) keeps the plain table.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

MONTHS_BACK = 13  # events older than 366 days are refused at the ingest
MONTHS_AHEAD = 2


def _month(d: date, shift: int) -> date:
    index = d.year * 12 + d.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def _partition(conn: Connection, first: date) -> str:
    name = f"events_{first:%Y_%m}"
    nxt = _month(first, 1)
    conn.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
            f"FOR VALUES FROM ('{first:%Y-%m}') TO ('{nxt:%Y-%m}')"
        )
    )
    return name


def is_partitioned(engine: Engine) -> bool:
    """Whether ``events`` is a partitioned table (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        kind = conn.execute(
            text("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('events')")
        ).scalar_one_or_none()
    return kind == "p"


def partition_by_month(engine: Engine, now: datetime) -> list[str]:
    """Make ``events`` partitioned by month (once) and ensure the partitions around ``now`` exist.

    Returns:
        The partitions that exist for the months from ``MONTHS_BACK`` before ``now`` to ``MONTHS_AHEAD``
        after it (and any older month that holds events). Nothing on SQLite.
    """
    if engine.dialect.name != "postgresql":
        return []
    months = [_month(now.date(), k) for k in range(-MONTHS_BACK, MONTHS_AHEAD + 1)]
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(7247001)"))  # several hq processes start together
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass('events')")).scalar()
        if kind == "r":
            held = [r[0] for r in conn.execute(text("SELECT DISTINCT substr(ts, 1, 7) FROM events"))]
            conn.execute(text("ALTER TABLE events RENAME TO events_unpartitioned"))
            for constraint in ("events_pkey", "events_event_id_key"):  # their names go to the new table
                conn.execute(text(f"ALTER TABLE events_unpartitioned DROP CONSTRAINT IF EXISTS {constraint}"))
            for index in ("ix_events_type", "ix_events_ts", "ix_events_member_id"):
                conn.execute(text(f"DROP INDEX IF EXISTS {index}"))
            conn.execute(text("ALTER SEQUENCE events_seq_seq OWNED BY NONE"))
            conn.execute(
                text("CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (ts)")
            )
            conn.execute(text("ALTER TABLE events ADD PRIMARY KEY (seq, ts)"))
            conn.execute(text("ALTER TABLE events ADD CONSTRAINT events_event_id_ts_key UNIQUE (event_id, ts)"))
            conn.execute(text("CREATE INDEX ix_events_store_ts ON events (store_id, ts)"))
            conn.execute(text("CREATE INDEX ix_events_type_ts ON events (type, ts)"))
            conn.execute(text("CREATE INDEX ix_events_ts ON events (ts)"))
            conn.execute(text("CREATE INDEX ix_events_member_id ON events (member_id)"))
            for ym in held:
                months.append(date(int(ym[:4]), int(ym[5:7]), 1))
            for first in sorted(set(months)):
                _partition(conn, first)
            conn.execute(text("INSERT INTO events SELECT * FROM events_unpartitioned"))
            conn.execute(text("DROP TABLE events_unpartitioned"))
            conn.execute(text("ALTER SEQUENCE events_seq_seq OWNED BY events.seq"))
            log.info("events partitioned by month (months holding events: %d)", len(held))
        made = [_partition(conn, first) for first in sorted(set(months))]
    return made


def drop_months_before(engine: Engine, cutoff: datetime) -> list[str]:
    """Drop whole monthly partitions that end before ``cutoff`` (retention); the rest is deleted row by row."""
    if not is_partitioned(engine):
        return []
    dropped = []
    with engine.begin() as conn:
        # a reader's long transaction must not hold housekeeping (and every insert queued behind its lock)
        # forever: give up after a while, the next round tries again
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        children = "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        children += "WHERE i.inhparent = to_regclass('events')"
        names = [r[0] for r in conn.execute(text(children))]
        for name in names:
            year, month = int(name[7:11]), int(name[12:14])
            if _month(date(year, month, 1), 1) <= cutoff.date().replace(day=1):
                conn.execute(text(f"DROP TABLE {name}"))
                dropped.append(name)
    return dropped
