"""The commerce store: members' profiles, the catalogue, POS transactions and member insights (imports fill it)."""

from __future__ import annotations

import json
from typing import IO, Any

from sqlalchemy import func, insert, inspect, select, text

from storelens.api.commerce import member_purchases, member_value, store_sales, unlink_member
from storelens.api.imports import ImportReport, Kind, import_stream
from storelens.books.database import Book, Part
from storelens.books.schema import commerce_tables, members, transactions
from storelens.clock import iso, utc_now


def _crm_columns(conn: Any) -> None:
    """0 -> 1: the members' CRM columns (one-store schema 4 -> 5; ``create_all`` made the other tables)."""
    have = {c["name"] for c in inspect(conn).get_columns("members")}  # create_all made a new table whole
    for column, kind in (("home_store", "VARCHAR(64)"), ("crm_hash", "VARCHAR(64)")):
        if column not in have:
            conn.execute(text(f"ALTER TABLE members ADD COLUMN {column} {kind}"))


COMMERCE = Part(
    "commerce",
    commerce_tables,
    version=1,
    steps={0: _crm_columns},
    legacy=lambda one_store: 1 if one_store >= 5 else 0,  # one-store schema 5 brought commerce
)


class CommerceBook(Book):
    """Members' profiles and what they bought."""

    PART = COMMERCE

    def put_member(self, member_id: str, fields: dict[str, Any]) -> None:
        """Create or update a member profile (``sizes`` is a dict, stored as JSON)."""
        values = dict(fields)
        if values.get("phone"):
            values["phone"] = "".join(ch for ch in values["phone"] if ch.isdigit() or ch == "+")
        if "sizes" in values:
            values["sizes"] = json.dumps(values["sizes"])
        if "photo_consent" in values:
            values["photo_consent"] = int(bool(values["photo_consent"]))
        values["updated_at"] = iso(utc_now())
        with self.engine.begin() as conn:
            exists = conn.execute(select(members.c.member_id).where(members.c.member_id == member_id)).first()
            if exists:
                conn.execute(members.update().where(members.c.member_id == member_id).values(**values))
            else:
                conn.execute(insert(members).values(member_id=member_id, **values))

    def member(self, member_id: str) -> dict[str, Any] | None:
        """A member profile, or None when there is none."""
        return self._one(members.c.member_id == member_id)

    def find_member(self, phone: str | None = None, code: str | None = None) -> dict[str, Any] | None:
        """A member by phone number or member code (a non-face way to the card)."""
        if phone:
            digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
            return self._one(members.c.phone == digits)
        if code:
            return self._one(members.c.member_code == code)
        return None

    def profiles(self) -> list[dict[str, Any]]:
        """Every member profile's id, name, tier and code (the console's list of members)."""
        query = select(members.c.member_id, members.c.name, members.c.tier, members.c.member_code)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        """Profiles whose name, member id, member code or phone holds ``text`` (any case), by name."""
        query = (
            select(members.c.member_id, members.c.name, members.c.tier, members.c.member_code)
            .where(
                members.c.name.icontains(text, autoescape=True)  # % and _ are the member's, not wildcards
                | members.c.member_id.icontains(text, autoescape=True)
                | members.c.member_code.icontains(text, autoescape=True)
                | members.c.phone.icontains(text, autoescape=True)
            )
            .order_by(members.c.name)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def _one(self, where: Any) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(members).where(where)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["sizes"] = json.loads(out["sizes"] or "{}")
        out["photo_consent"] = bool(out["photo_consent"])
        return out

    def purchases(self, member_id: str) -> list[dict[str, Any]]:
        """Every purchase linked to a member, with its lines."""
        with self.engine.connect() as conn:
            return member_purchases(conn, member_id)

    def spent(self, member_id: str, store_id: str, start: str, end: str, currency: str) -> tuple[int, int]:
        """A member's sales at a store in [start, end): (how many, their sum in ``currency``'s minor units)."""
        query = select(func.count(), func.coalesce(func.sum(transactions.c.amount_minor), 0)).where(
            transactions.c.member_id == member_id,
            transactions.c.store_id == store_id,
            transactions.c.ts >= start,
            transactions.c.ts < end,
            transactions.c.currency == currency,
        )
        with self.engine.connect() as conn:
            count, total = conn.execute(query).one()
        return int(count), int(total)

    def member_value(self, member_id: str, currency: str) -> dict[str, Any]:
        """The card's purchases, value and recommendations (``storelens.api.commerce.member_value``)."""
        with self.engine.connect() as conn:
            return member_value(conn, member_id, currency, utc_now())

    def sales(self, start: str, end: str, store_id: str | None = None) -> dict[str, list[tuple[str, int, str, bool]]]:
        """Per store (or the one given): its transactions in [start, end) (``commerce.store_sales``)."""
        with self.engine.connect() as conn:
            return store_sales(conn, start, end, store_id)

    def import_file(self, kind: Kind, binary: IO[bytes], name: str) -> ImportReport:
        """Import a CRM, catalogue or POS file, all or nothing (``storelens.api.imports``)."""
        return import_stream(self.engine, kind, binary, name)

    def erase(self, conn: Any, member_id: str) -> dict[str, int]:
        """Delete a member's profile, value segment and recommendations, in the caller's transaction.

        Their purchases stay in the books without their id. Returns counts.
        """
        n_profile = conn.execute(members.delete().where(members.c.member_id == member_id)).rowcount
        return {"profile": int(n_profile or 0), **unlink_member(conn, member_id)}
