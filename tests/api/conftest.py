"""API fixtures: an event store on SQLite and on a PostgreSQL server the tests start themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.api.store import EventStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> EventStore:
    if request.param == "sqlite":
        s = EventStore(f"sqlite:///{tmp_path / 'events.sqlite'}")
    else:
        server = request.getfixturevalue("postgres")
        from sqlalchemy import text

        s = EventStore(server.url)
        with s.engine.begin() as conn:  # a clean slate per test
            conn.execute(text("DELETE FROM events"))
            conn.execute(text("DELETE FROM tokens"))
    yield s
    s.close()
