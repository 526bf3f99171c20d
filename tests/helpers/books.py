"""A store's books for a test, on SQLite or on the PostgreSQL server the tests start (a clean slate each time)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from storelens.api.books import StoreBooks
from storelens.books.schema import access_tables, commerce_tables, event_tables, token_tables


def books_for(request: pytest.FixtureRequest, tmp_path: Path) -> StoreBooks:
    """The books of the backend ``request.param`` names (``sqlite`` or ``postgresql``)."""
    if request.param == "sqlite":
        return StoreBooks(f"sqlite:///{tmp_path / 'events.sqlite'}")
    books = StoreBooks(request.getfixturevalue("postgres").url)
    with books.engine.begin() as conn:  # a clean slate per test, sequences too (event seq numbers start at 1)
        tables = [t for m in (event_tables, commerce_tables, access_tables, token_tables) for t in m.sorted_tables]
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE"))
        # head office's rollups, where a test made them: rolled up from the events just emptied
        conn.execute(
            text(
                "DROP TABLE IF EXISTS rollup_footfall, rollup_visitor_tokens, rollup_footfall_day, "
                "rollup_visitor_tokens_day, rollup_state"
            )
        )
        conn.execute(text("DELETE FROM meta WHERE key = 'schema.rollups'"))
    return books
