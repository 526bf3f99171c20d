"""Head office's database: every store's events and the chain's member registry, in one PostgreSQL (or SQLite)."""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from storelens.api.store import EventStore
from storelens.errors import DatabaseError
from storelens.hq.registry import ChainMembers

log = logging.getLogger(__name__)


def open_database(url: str, tries: int = 5) -> tuple[EventStore, ChainMembers]:
    """The chain's database and registry.

    Several ``hq serve`` starting at once on an empty database race to create the same tables: the loser
    waits and opens what the winner made.
    """
    attempt = 0
    while True:
        store: EventStore | None = None
        try:
            store = EventStore(url)
            return store, ChainMembers(store.engine)
        except (DatabaseError, SQLAlchemyError) as exc:
            if store is not None:
                store.close()
            attempt += 1
            racing = "already exists" in str(exc) or "duplicate key" in str(exc)
            if attempt >= tries or not racing:
                raise
            log.info("another head-office process is creating the tables; retrying")
            time.sleep(float(attempt))
