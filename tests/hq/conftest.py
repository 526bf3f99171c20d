"""Head-office fixtures: a store's books on SQLite and on a PostgreSQL server the tests start themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storelens.api.books import StoreBooks
from tests.helpers.books import books_for


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBooks]:
    books = books_for(request, tmp_path)
    yield books
    books.close()
