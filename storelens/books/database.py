"""One database, several books: each concern's tables are a :class:`Part` with a schema version of its own.

A part's version is kept in the shared ``meta`` table under ``schema.<part>``; its steps ``{v: step to v + 1}``
run inside the transaction that opens it (:func:`storelens.migrations.pending_steps` refuses a database newer
than this StoreLens). A database written before the books were split holds one ``schema_version`` (1 to 5)
for everything: each part reads its own version off it (:attr:`Part.legacy`), once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Engine, MetaData, create_engine, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from storelens.books.schema import meta, meta_tables
from storelens.errors import DatabaseError
from storelens.extras import require_extra
from storelens.migrations import pending_steps

log = logging.getLogger(__name__)
SCHEMA_LOCK = 0x5354_4C53  # PostgreSQL advisory lock: one process at a time creates or migrates tables
LEGACY_KEY = "schema_version"  # the one version of a database written before the books were split
LEGACY_LAST = 5  # the last one-store schema


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, None for any other database (readers check it exists first)."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


@dataclass(frozen=True)
class Part:
    """One concern's tables and how its schema moves forward.

    Attributes:
        name: the concern (``events``, ``commerce``, ``access_log``, ``tokens``, ``chain``).
        tables: its tables.
        version: its current schema version (>= 1).
        steps: version -> the step to version + 1, run with the opening connection.
        legacy: the part's version in a one-store database of ``schema_version`` N (1 to 5).
    """

    name: str
    tables: MetaData
    version: int
    steps: Mapping[int, Callable[[Any], None]] = field(default_factory=dict)
    legacy: Callable[[int], int] | None = None

    @property
    def key(self) -> str:
        """Its key in ``meta``."""
        return f"schema.{self.name}"


def connect(url: str) -> Engine:
    """An engine for ``url`` (connections checked before use).

    Raises:
        DatabaseError: the URL is not one SQLAlchemy can use.
        ConfigError: a PostgreSQL URL on an install without PostgreSQL's driver (an extra).
    """
    if url.startswith("postgresql"):
        require_extra("postgresql", f"the database {url.split('@')[-1]!r}")
    try:
        return create_engine(url, future=True, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError) as exc:
        raise DatabaseError(f"{url.split('@')[-1]}: not a database URL: {exc.__class__.__name__}") from exc


def safe_url(engine: Engine) -> str:
    """The engine's URL with any password hidden."""
    return engine.url.render_as_string(hide_password=True)


class Database:
    """Stores on one database: a subclass opens them in :meth:`open_books` (all or none).

    Args:
        url: SQLAlchemy URL (the database is this object's own), or the engine of a database shared with others.

    Raises:
        DatabaseError: the database cannot be used.
        SchemaError: one of its books is newer than this StoreLens.
    """

    def __init__(self, url: str | Engine) -> None:
        self.engine: Engine = connect(url) if isinstance(url, str) else url
        try:
            self.open_books()
        except Exception:
            if isinstance(url, str):
                self.engine.dispose()
            raise

    def open_books(self) -> None:
        """Open each store on :attr:`engine`."""
        raise NotImplementedError

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return safe_url(self.engine)

    def close(self) -> None:
        """Release connections (of the whole database, where it is shared)."""
        self.engine.dispose()


class Book(Database):
    """One concern's book: its :attr:`PART` on a database of its own or shared with others."""

    PART: ClassVar[Part]

    def open_books(self) -> None:
        """Create or bring forward this book's part."""
        open_part(self.engine, self.PART)


def open_part(engine: Engine, part: Part) -> None:
    """Create the part's tables when missing and bring its schema to ``part.version``, in one transaction.

    Raises:
        DatabaseError: the database cannot be used.
        SchemaError: the part is newer than this StoreLens, or cannot be upgraded.
    """
    try:
        if _stored(engine).get(part.key) == str(part.version):
            return  # current: nothing to create or migrate (a command that opens the books starts fast)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # processes starting together (head office's workers) take turns
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            meta_tables.create_all(conn)
            part.tables.create_all(conn)
            values = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
            found = _found(part, values)
            if found is None:  # new here: create_all made the current schema
                conn.execute(insert(meta).values(key=part.key, value=str(part.version)))
                return
            steps = pending_steps(found, part.version, part.steps, f"{safe_url(engine)} ({part.name})")
            for _, step in steps:
                step(conn)
            if part.key in values:
                conn.execute(meta.update().where(meta.c.key == part.key).values(value=str(part.version)))
            else:
                conn.execute(insert(meta).values(key=part.key, value=str(part.version)))
            if steps:
                log.info("%s: %s schema migrated from %d to %d", safe_url(engine), part.name, found, part.version)
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"{safe_url(engine)}: cannot use the {part.name} tables: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc


def _stored(engine: Engine) -> dict[str, str]:
    """The ``meta`` table's entries; empty where there is none yet."""
    if not inspect(engine).has_table(meta.name):
        return {}
    with engine.connect() as conn:
        return {str(k): str(v) for k, v in conn.execute(select(meta.c.key, meta.c.value)).all()}


def _found(part: Part, values: dict[str, str]) -> int | None:
    """The part's stored version; None where it is new to this database."""
    raw = values.get(part.key)
    if raw is None and LEGACY_KEY in values and part.legacy is not None:
        legacy = _number(values[LEGACY_KEY], LEGACY_KEY)
        if legacy > LEGACY_LAST:  # newer than any one-store schema: refused by the same rule as the others
            return max(legacy, part.version + 1)
        return part.legacy(legacy)
    return None if raw is None else _number(raw, part.key)


def _number(raw: str, key: str) -> int:
    if not raw.isdigit():
        raise DatabaseError(f"meta.{key} = {raw[:40]!r} is not a number: this database was not made by StoreLens")
    return int(raw)
