"""Health: the only route without a token."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import Store

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Service health."""

    status: str
    events: int


@router.get("/health", response_model=Health)
def health(store: Store) -> Health:
    """The service is up and its database answers."""
    return Health(status="ok", events=store.count())
