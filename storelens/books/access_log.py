"""The access log: every read of a member's data (who, what, when, why), kept ``api.access_log_days``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from storelens.books.database import Book, Part
from storelens.books.schema import access_log, access_tables
from storelens.clock import iso, utc_now

ACCESS_LOG = Part("access_log", access_tables, version=1, legacy=lambda one_store: 1)  # create_all made it


class AccessLog(Book):
    """Reads of members' data, accountable after an erasure (the member id replaced by the receipt's)."""

    PART = ACCESS_LOG

    def log_access(self, member_id: str, who: str, role: str, what: str, why: str) -> None:
        """Record one read of a member's data (``what``: card, profile, photo, consent, export)."""
        with self.engine.begin() as conn:
            conn.execute(insert(access_log).values(at=iso(utc_now()), member_ref=member_id, who=who[:128], role=role,
                                                   what=what, why=why))  # fmt: skip

    def access_log(self, member_ref: str) -> list[dict[str, Any]]:
        """Every recorded read of a member (or of an erased member, by receipt id), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(access_log.c.at, access_log.c.who, access_log.c.role, access_log.c.what, access_log.c.why)
                .where(access_log.c.member_ref == member_ref)
                .order_by(access_log.c.id)
            ).all()
        return [{"at": r[0], "who": r[1], "role": r[2], "what": r[3], "why": r[4]} for r in rows]

    def recent(self, limit: int, who: str | None = None, why: str | None = None) -> list[dict[str, Any]]:
        """The latest ``limit`` reads of any member's data, newest first, with the member (or receipt) read.

        ``who``, ``why``: that reader's reads only, for that purpose only.
        """
        cols = (access_log.c.at, access_log.c.member_ref, access_log.c.who, access_log.c.role, access_log.c.what,
                access_log.c.why)  # fmt: skip
        query = select(*cols).order_by(access_log.c.id.desc()).limit(limit)
        if who is not None:
            query = query.where(access_log.c.who == who)
        if why is not None:
            query = query.where(access_log.c.why == why)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"at": r[0], "member": r[1], "who": r[2], "role": r[3], "what": r[4], "why": r[5]} for r in rows]

    def readers(self) -> list[str]:
        """Every reader (token name) the log holds, by name: what the console's filter offers."""
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(select(access_log.c.who).distinct().order_by(access_log.c.who))]

    def purge_access_log(self, days: int) -> int:
        """Drop access-log entries older than ``days``; returns how many."""
        cutoff = iso(utc_now() - timedelta(days=days))
        with self.engine.begin() as conn:
            return int(conn.execute(access_log.delete().where(access_log.c.at < cutoff)).rowcount or 0)

    def pseudonymise(self, conn: Any, member_id: str, receipt_id: str) -> None:
        """An erased member's entries kept under the erasure receipt's id, in the caller's transaction."""
        conn.execute(access_log.update().where(access_log.c.member_ref == member_id).values(member_ref=receipt_id))
