"""VIP arrivals for the associates' iPads, and "I'll take this"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel

from storelens.api.auth import Associate, Svc
from storelens.bounds import EVENT_ID, MAX_SEQ

router = APIRouter(prefix="/notifications", tags=["notifications"])


class Taken(BaseModel):
    """Who took an arrival."""

    by: str
    at: str


class Rejected(BaseModel):
    """Who said an arrival was not the member announced ("Not this person"), and when."""

    by: str
    at: str


class Notification(BaseModel):
    """An arrival with the member card, who took it, and until when the visit's cooldown runs."""

    kind: str
    seq: int
    event: dict[str, Any]
    card: dict[str, Any]
    taken: Taken | None
    rejected: Rejected | None = None
    cooldown_until: str


@router.get("", response_model=list[Notification])
def notifications(
    svc: Svc, who: Associate, since_seq: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0
) -> list[Notification]:
    """Today's arrivals (the store's day) after ``since_seq`` (what a reconnecting iPad missed), oldest first."""
    out = []
    for e in svc.todays_arrivals(since_seq):
        svc.log_read(e.payload["member_id"], who, "card", "arrival")
        out.append(Notification(**svc.arrival_message(e.seq, e.payload)))
    return out


@router.post("/{event_id}/take", response_model=Taken)
def take(event_id: Annotated[str, Path(pattern=EVENT_ID)], svc: Svc, who: Associate) -> Taken:
    """Claim an arrival so that two associates do not greet the same VIP; the first claim wins."""
    if not svc.books.events.has_event(event_id, "vip_arrival"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no arrival {event_id!r}")
    by, at = svc.books.events.take(event_id, who.name)
    svc.books.events.judge(event_id, "confirmed", who.name)
    svc.hub.publish({"kind": "taken", "event_id": event_id, "taken": {"by": by, "at": at}})
    return Taken(by=by, at=at)


@router.post("/{event_id}/reject", response_model=Rejected)
def reject(event_id: Annotated[str, Path(pattern=EVENT_ID)], svc: Svc, who: Associate) -> Rejected:
    """Record "Not this person": the associate's word, with the camera and the similarity (never an image).

    It stands over an earlier "I'll take this"; every iPad shows it; the store console counts it per camera,
    and ``storelens calibrate threshold --outcomes`` weighs it.
    """
    if not svc.books.events.has_event(event_id, "vip_arrival"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no arrival {event_id!r}")
    stood = svc.books.events.judge(event_id, "rejected", who.name)
    svc.hub.publish({"kind": "rejected", "event_id": event_id, "rejected": {"by": stood.by, "at": stood.at}})
    return Rejected(by=stood.by, at=stood.at)
