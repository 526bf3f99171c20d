"""Head office's database: every store's events, the chain's tokens and its member registry; nothing else.

Head office creates only what it uses (events, tokens, the chain tables), each with its own schema version
(``storelens.api.stores``); the stores' commerce and access log stay in each box.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from storelens.api.event_store import EventStore
from storelens.api.stores import Database
from storelens.api.token_store import TokenStore
from storelens.errors import DatabaseError
from storelens.hq.registry import ChainMembers

log = logging.getLogger(__name__)


class HqDatabase(Database):
    """The chain's stores on one database (``database_url``; PostgreSQL in production)."""

    def open_stores(self) -> None:
        """Events, tokens and the member registry."""
        self.events = EventStore(self.engine)
        self.tokens = TokenStore(self.engine)
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
