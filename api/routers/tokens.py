"""Device tokens (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Role, Tokens
from storelens.errors import NameTaken
from storelens.i18n import N_
from storelens.web.pages import Shown, refused

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenIn(BaseModel):
    """A token to make."""

    name: str = Field(min_length=1, max_length=128, description="Device or person, e.g. 'ipad-counter-1'")
    role: Role


class TokenOut(BaseModel):
    """The new token: shown once, stored only as a hash."""

    name: str
    role: Role
    token: str


@router.post("", response_model=TokenOut, status_code=201, responses={409: {"description": "the name is in use"}})
def create_token(body: TokenIn, tokens: Tokens, who: Admin) -> TokenOut:
    """Make a device token; its name must be new (it says which device to revoke)."""
    try:
        return TokenOut(name=body.name, role=body.role, token=tokens.create(body.name, body.role))
    except NameTaken as exc:
        raise refused(status.HTTP_409_CONFLICT, exc) from exc


class TokenRow(BaseModel):
    """A token as listed: its name, role and when it was made (the token itself is never kept)."""

    name: str
    role: Role
    created_at: str


@router.get("", response_model=list[TokenRow])
def list_tokens(tokens: Tokens, who: Admin) -> list[TokenRow]:
    """Every device token's name, role and date."""
    return [TokenRow(name=n, role=r, created_at=c) for n, r, c in tokens.listing()]  # type: ignore[arg-type]


class Revoked(BaseModel):
    """What revoking a name did."""

    name: str
    revoked: int


@router.delete("/{name}", response_model=Revoked)
def revoke_token(name: Annotated[str, Path(min_length=1, max_length=128)], tokens: Tokens, who: Admin) -> Revoked:
    """Revoke every token of ``name`` (a lost iPad); its next request gets 401. Not your own."""
    if name == who.name:
        raise Shown(status.HTTP_409_CONFLICT, N_("A token cannot revoke itself: use another admin token."))
    revoked = tokens.revoke(name)
    if not revoked:
        raise Shown(status.HTTP_404_NOT_FOUND, N_("No token is named {name}."), name=name)
    return Revoked(name=name, revoked=revoked)
