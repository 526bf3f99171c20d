"""API fixtures: an event store on SQLite and on a PostgreSQL server the tests start themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.api.store import EventStore, metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> EventStore:
    if request.param == "sqlite":
        s = EventStore(f"sqlite:///{tmp_path / 'events.sqlite'}")
    else:
        server = request.getfixturevalue("postgres")
        from sqlalchemy import text

        s = EventStore(server.url)
        with s.engine.begin() as conn:  # a clean slate per test, sequences too (event seq numbers start at 1)
            tables = [t for t in metadata.sorted_tables if t.name != "meta"]
            conn.execute(text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE"))
    yield s
    s.close()
