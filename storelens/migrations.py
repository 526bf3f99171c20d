"""Forward schema migrations for StoreLens's SQLite/SQL stores.

Each store keeps ``schema_version`` in a ``meta`` table; opening a store runs the steps from its
version to the current one, in one transaction per step, so an upgrade never loses data.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping

from storelens.errors import StoreLensError

log = logging.getLogger(__name__)

Step = Callable[[sqlite3.Connection], None]


class SchemaError(StoreLensError):
    """A store's schema is newer than this StoreLens, or a migration failed."""


def sqlite_version(db: sqlite3.Connection) -> int:
    """The stored schema version (0 when the store has no meta table yet)."""
    has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate_sqlite(db: sqlite3.Connection, target: int, steps: Mapping[int, Step], name: str) -> int:
    """Run ``steps[v]`` (v -> v + 1) from the stored version up to ``target``; returns the version found.

    Raises:
        SchemaError: the store is newer than ``target``, or a step failed (that step is rolled back).
    """
    found = sqlite_version(db)
    if found > target:
        raise SchemaError(f"{name}: schema {found} is newer than this StoreLens ({target}); upgrade StoreLens")
    for version in range(found, target):
        try:
            db.execute("BEGIN IMMEDIATE")
            steps[version](db)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version + 1),))
            db.execute("COMMIT")
        except (sqlite3.DatabaseError, KeyError) as exc:
            db.execute("ROLLBACK")
            raise SchemaError(f"{name}: migrating schema {version} -> {version + 1} failed: {exc}") from exc
        if version > 0:
            log.info("%s: migrated schema %d -> %d", name, version, version + 1)
    return found
