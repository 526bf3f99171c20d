"""A persistent outbox of events not yet acknowledged by the broker.

Every event is written to SQLite before publishing and deleted only once the broker has acknowledged
it (QoS 1 PUBACK). Events survive broker outages and process restarts; delivery is at least once, and
consumers deduplicate on ``event_id``.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from storelens.errors import OutboxError
from storelens.migrations import migrate_sqlite

SCHEMA_VERSION = 2


def _v1(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE "
        "NOT NULL, camera_id TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)"
    )


def _v2(db: sqlite3.Connection) -> None:
    """Schema 2: when each event was queued (the age of the oldest waiting event)."""
    db.execute("ALTER TABLE outbox ADD COLUMN created_at TEXT NOT NULL DEFAULT ''")
    db.execute("UPDATE outbox SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE created_at = ''")


MIGRATIONS = {0: _v1, 1: _v2}


@dataclass(frozen=True)
class Pending:
    """One event waiting for its acknowledgement."""

    seq: int
    event_id: str
    camera_id: str
    topic: str
    payload: bytes


class Outbox:
    """The outbox table in one SQLite file (WAL, synchronous FULL: a written event survives kill -9).

    Args:
        path: the SQLite file.
    """

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            migrate_sqlite(self.db, SCHEMA_VERSION, MIGRATIONS, str(path))
        except (sqlite3.DatabaseError, OSError) as exc:
            raise OutboxError(f"{path}: cannot open the event outbox: {exc}") from exc
        self.path = path
        self._lock = threading.Lock()

    def put(self, event_id: str, camera_id: str, topic: str, payload: bytes) -> None:
        """Store an event durably (idempotent on ``event_id``)."""
        with self._lock:
            self.db.execute(
                "INSERT OR IGNORE INTO outbox (event_id, camera_id, topic, payload, created_at) "
                "VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                (event_id, camera_id, topic, payload),
            )

    def pending(self, camera_id: str, limit: int = 100, after: int = 0) -> list[Pending]:
        """Oldest events of a camera not yet acknowledged, with ``seq`` greater than ``after``."""
        with self._lock:
            rows = self.db.execute(
                "SELECT seq, event_id, camera_id, topic, payload FROM outbox WHERE camera_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (camera_id, after, limit),
            ).fetchall()
        return [Pending(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def ack(self, seq: int) -> None:
        """The broker has the event: forget it."""
        with self._lock:
            self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def depth(self, camera_id: str | None = None) -> int:
        """Events waiting (for one camera or all)."""
        with self._lock:
            if camera_id is None:
                return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            return int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE camera_id = ?", (camera_id,)).fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self.db.close()
