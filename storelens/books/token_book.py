"""The device tokens: each kept only as its SHA-256, with the device's name and role."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import insert, select

from storelens.books.database import Book, Part
from storelens.books.schema import token_tables, tokens
from storelens.clock import iso, utc_now
from storelens.errors import NameTaken
from storelens.i18n import N_

TOKENS = Part("tokens", token_tables, version=1, legacy=lambda one_store: 1)


def new_token() -> str:
    """A random device token (shown once, stored hashed)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """How a token is stored: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenBook(Book):
    """Device tokens (iPads, managers, head office's analysts and admins)."""

    PART = TOKENS

    def add_token(self, token: str, name: str, role: str) -> None:
        """Remember a device token (hashed)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(tokens).values(token_hash=token_hash(token), name=name, role=role, created_at=iso(utc_now()))
            )

    def create(self, name: str, role: str) -> str:
        """A new token for ``name`` in ``role``, kept hashed; the token itself is returned once, never kept.

        Raises:
            NameTaken: a token of that name exists (revoke it first): a name says which device to revoke.
        """
        token = new_token()
        with self.engine.begin() as conn:
            if conn.execute(select(tokens.c.name).where(tokens.c.name == name).limit(1)).first() is not None:
                raise NameTaken(
                    f"a token named {name!r} exists already: choose another name, or revoke it first",
                    message=N_("A token named {name} exists already: choose another name, or revoke it first."),
                    params={"name": name},
                )
            conn.execute(
                insert(tokens).values(token_hash=token_hash(token), name=name, role=role, created_at=iso(utc_now()))
            )
        return token

    def listing(self) -> list[tuple[str, str, str]]:
        """Every token's (name, role, created at), by name; never the token, which is not kept."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(tokens.c.name, tokens.c.role, tokens.c.created_at).order_by(tokens.c.name))
            return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def revoke(self, name: str) -> int:
        """Forget every token of ``name`` (a lost iPad); returns how many. Its next request gets 401."""
        with self.engine.begin() as conn:
            return int(conn.execute(tokens.delete().where(tokens.c.name == name)).rowcount or 0)

    def token(self, token: str) -> tuple[str, str] | None:
        """(name, role) of a token, or None when unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tokens.c.name, tokens.c.role).where(tokens.c.token_hash == token_hash(token))
            ).first()
        return (str(row[0]), str(row[1])) if row else None
