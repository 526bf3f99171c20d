"""Events as stored: arrivals, visitors and footfall, for the associate's feed and replay."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from storelens.api.auth import Associate, Events
from storelens.bounds import MAX_SEQ

router = APIRouter(prefix="/events", tags=["events"])


class EventOut(BaseModel):
    """One stored event with its sequence number (ask for ``since_seq`` to replay what was missed)."""

    seq: int
    event: dict[str, Any]


@router.get("", response_model=list[EventOut])
def list_events(
    store: Events,
    who: Associate,
    since_seq: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Only events after this sequence number")] = 0,
    type: Annotated[Literal["vip_arrival", "visitor", "footfall"] | None, Query(description="Only this type")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[EventOut]:
    """Stored events after ``since_seq``, oldest first."""
    return [EventOut(seq=e.seq, event=e.payload) for e in store.since(since_seq, type, limit)]
