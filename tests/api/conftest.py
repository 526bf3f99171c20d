"""API fixtures: a store's books on SQLite and on a PostgreSQL server the tests start themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.api.books import StoreBooks
from storelens.api.schema import access_tables, commerce_tables, event_tables, token_tables


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> StoreBooks:
    if request.param == "sqlite":
        s = StoreBooks(f"sqlite:///{tmp_path / 'events.sqlite'}")
    else:
        server = request.getfixturevalue("postgres")
        from sqlalchemy import text

        s = StoreBooks(server.url)
        with s.engine.begin() as conn:  # a clean slate per test, sequences too (event seq numbers start at 1)
            tables = [t for m in (event_tables, commerce_tables, access_tables, token_tables) for t in m.sorted_tables]
            conn.execute(text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE"))
    yield s
    s.close()
