"""Members enrolled at head office and erasures with each box's confirmation (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from storelens.bounds import MEMBER_ID
from storelens.hq.access import Hq, HqAdmin

router = APIRouter(prefix="/chain", tags=["members"])


class Delivery(BaseModel):
    """What head office asked one store's box to hold, and what the box confirmed."""

    op: str
    version: int
    state: str = Field(description="pending (sent again until confirmed), confirmed, refused")
    attempts: int
    held_vectors: int | None
    detail: str


class ChainMember(BaseModel):
    """A member enrolled at head office and, per store, the delivery."""

    member_id: str
    version: int
    scope: str
    home_store: str | None
    stores: dict[str, Delivery]
    updated_at: str


class Confirmation(BaseModel):
    """A box's receipt for an erasure."""

    at: str | None
    receipt_id: str | None
    removed: dict[str, int]


class Pending(BaseModel):
    """A box that has not confirmed yet."""

    store_id: str
    attempts: int
    state: str


class Erasure(BaseModel):
    """An erasure: the member only by hash, the boxes confirmed and pending."""

    erasure_id: str
    member_ref: str
    reason: str
    requested_at: str
    completed_at: str | None
    confirmed: dict[str, Confirmation]
    pending: list[Pending]


@router.get("/members", response_model=list[ChainMember])
def members(hq: Hq, who: HqAdmin) -> list[dict[str, Any]]:
    """Every member enrolled at head office, with each box's state."""
    return hq.members.members()


@router.get("/erasures", response_model=list[Erasure])
def erasures(
    hq: Hq,
    who: HqAdmin,
    member_id: Annotated[str | None, Query(max_length=128, pattern=MEMBER_ID)] = None,
) -> list[dict[str, Any]]:
    """Every erasure (or one member's), with the boxes that confirmed and those still pending."""
    return hq.members.erasures(member_id)
