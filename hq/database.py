"""Head office's database: every store's events, the chain's tokens and its member registry; nothing else.

Head office creates only what it uses (events, tokens, the chain tables), each with its own schema version
(``storelens.books.database``); the stores' commerce and access log stay in each box.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from storelens.books.database import Database
from storelens.books.event_log import EventLog
from storelens.books.token_book import TokenBook
from storelens.errors import DatabaseError
from storelens.hq.registry import ChainMembers

log = logging.getLogger(__name__)


class HqDatabase(Database):
    """The chain's stores on one database (``database_url``; PostgreSQL in production)."""

    def open_books(self) -> None:
        """Events, tokens and the member registry."""
        self.events = EventLog(self.engine)
        self.tokens = TokenBook(self.engine)
        self.members = ChainMembers(self.engine)


def open_database(url: str, tries: int = 5) -> HqDatabase:
    """The chain's database, made when new.

    Several ``hq serve`` starting at once on an empty database race to create the same tables: the loser
    waits and opens what the winner made.
    """
    attempt = 0
    while True:
        try:
            return HqDatabase(url)
        except (DatabaseError, SQLAlchemyError) as exc:
            attempt += 1
            racing = "already exists" in str(exc) or "duplicate key" in str(exc)
            if attempt >= tries or not racing:
                raise
            log.info("another head-office process is creating the tables; retrying")
            time.sleep(float(attempt))
