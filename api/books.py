"""A store box's books: its four stores (events, commerce, access log, tokens) on one database."""

from __future__ import annotations

from storelens.api.access_log import AccessLog
from storelens.api.commerce_store import CommerceStore
from storelens.api.event_store import EventStore
from storelens.api.stores import Database
from storelens.api.token_store import TokenStore


class StoreBooks(Database):
    """The box's stores, each with its own schema version, sharing one engine (``api.database_url``)."""

    def open_stores(self) -> None:
        """Events, commerce, the access log and tokens."""
        self.events = EventStore(self.engine)
        self.commerce = CommerceStore(self.engine)
        self.access = AccessLog(self.engine)
        self.tokens = TokenStore(self.engine)

    def erase_member(self, member_id: str, receipt_id: str | None = None) -> dict[str, int]:
        """Delete a member's profile, arrival events, acknowledgements, value segment and recommendations, at once.

        Their purchases stay in the books without their id; the access log is kept (who looked at the member,
        and when, stays accountable) with the member id replaced by ``receipt_id``, the erasure receipt's id.
        Returns counts.
        """
        with self.engine.begin() as conn:
            if receipt_id:
                self.access.pseudonymise(conn, member_id, receipt_id)
            counts = self.events.erase(conn, member_id)
            commerce = self.commerce.erase(conn, member_id)
        return {"profile": commerce.pop("profile"), **counts, **commerce}
