"""Device tokens (admin only)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Role, Tokens, new_token

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


@router.post("", response_model=TokenOut, status_code=201)
def create_token(body: TokenIn, store: Tokens, who: Admin) -> TokenOut:
    """Make a device token."""
    token = new_token()
    store.add_token(token, body.name, body.role)
    return TokenOut(name=body.name, role=body.role, token=token)
