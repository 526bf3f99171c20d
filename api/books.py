"""A store box's books: its four books (events, commerce, access log, tokens) on one database."""

from __future__ import annotations

from storelens.api.commerce_book import CommerceBook
from storelens.books.access_log import AccessLog
from storelens.books.database import Database
from storelens.books.event_log import EventLog
from storelens.books.token_book import TokenBook


class StoreBooks(Database):
    """The box's books, each with its own schema version, sharing one engine (``api.database_url``)."""

    def open_books(self) -> None:
        """Events, commerce, the access log and tokens."""
        self.events = EventLog(self.engine)
        self.commerce = CommerceBook(self.engine)
        self.access = AccessLog(self.engine)
        self.tokens = TokenBook(self.engine)

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
