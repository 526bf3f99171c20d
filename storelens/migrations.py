"""Forward schema migrations, one mechanism for every store (gallery and outbox on SQLite, the books on SQLAlchemy).

Each store keeps ``schema_version`` in a ``meta`` table and a table of steps ``{v: step to v + 1}``;
:func:`pending_steps` refuses a store newer than this StoreLens and lists what to run. The SQLite
stores run each step in its own transaction (:func:`migrate_sqlite`); the event store runs them in
its opening transaction. Either way an upgrade never loses data.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import TypeVar

from storelens.errors import SchemaError

log = logging.getLogger(__name__)

Step = Callable[[sqlite3.Connection], None]
S = TypeVar("S")


def pending_steps(found: int, target: int, steps: Mapping[int, S], name: str) -> list[tuple[int, S]]:
    """The steps (version, step) that bring schema ``found`` to ``target``, in order.

    Raises:
        SchemaError: the store is newer than ``target``, or a step is missing.
    """
    if found > target:
        raise SchemaError(f"{name}: schema {found} is newer than this StoreLens ({target}); upgrade StoreLens")
    missing = [v for v in range(found, target) if v not in steps]
    if missing:
        raise SchemaError(f"{name}: no migration from schema {missing[0]}; this store cannot be upgraded")
    return [(v, steps[v]) for v in range(found, target)]


def sqlite_version(db: sqlite3.Connection) -> int:
    """The stored schema version (0 when the store has no meta table yet)."""
    has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return 0
    if not str(row[0]).isdigit():
        raise SchemaError(
            f"schema version {str(row[0])[:40]!r} is not a number: this store was damaged or not made by StoreLens"
        )
    return int(row[0])


def migrate_sqlite(db: sqlite3.Connection, target: int, steps: Mapping[int, Step], name: str) -> int:
    """Run ``steps[v]`` (v -> v + 1) from the stored version up to ``target``; returns the version found.

    Raises:
        SchemaError: the store is newer than ``target``, or a step failed (that step is rolled back).
    """
    found = sqlite_version(db)
    for version, step in pending_steps(found, target, steps, name):
        try:
            db.execute("BEGIN IMMEDIATE")
            step(db)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version + 1),))
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            db.execute("ROLLBACK")
            raise SchemaError(f"{name}: migrating schema {version} -> {version + 1} failed: {exc}") from exc
        if version > 0:
            log.info("%s: migrated schema %d -> %d", name, version, version + 1)
    return found
