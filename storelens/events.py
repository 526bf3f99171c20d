"""MQTT payloads: versioned message models (shared/CONTRACT.md), and the one function that makes topics."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from storelens.clock import now_iso

TOPIC_ROOT = "storelens/v1"
SCHEMA_VERSION = 1
Kind = Literal["arrival", "visitor", "footfall", "status"]


def topic(store_id: str, camera_id: str, kind: Kind) -> str:
    """``storelens/v1/{store_id}/{camera_id}/{kind}``."""
    return f"{TOPIC_ROOT}/{store_id}/{camera_id}/{kind}"


def topic_filter(store_id: str = "+", camera_id: str = "+", kind: str = "+") -> str:
    """A subscription pattern over :func:`topic`'s levels (``+`` matches any one), e.g. every store's events."""
    return f"{TOPIC_ROOT}/{store_id}/{camera_id}/{kind}"


def new_event_id() -> str:
    """A random UUID."""
    return str(uuid.uuid4())


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=SCHEMA_VERSION, description="Payload schema version")
    event_id: str = Field(default_factory=new_event_id, description="UUID; consumers deduplicate on it")
    store_id: str
    camera_id: str


class ArrivalEvent(_Event):
    """A VIP member walked in: once per member per visit (store-wide cooldown)."""

    type: Literal["vip_arrival"] = "vip_arrival"
    member_id: str
    similarity: float
    track_id: int
    ts: str = Field(default_factory=now_iso)


class VisitorEvent(_Event):
    """An anonymous visitor, once per visit; ``returning`` when seen on an earlier visit within the TTL."""

    type: Literal["visitor"] = "visitor"
    anon_id: str
    track_id: int
    returning: bool
    entered: bool = Field(description="The person crossed the entry line into the store")
    ts: str = Field(default_factory=now_iso)


class FootfallEvent(_Event):
    """Counts for one camera and interval."""

    type: Literal["footfall"] = "footfall"
    interval_start: str
    interval_end: str
    entries: int = Field(ge=0)
    unique_visitors: int = Field(ge=0)
    vip_arrivals: int = Field(ge=0)
    partial: bool = Field(default=False, description="The interval was cut short (end of a file source)")
    visitor_tokens: tuple[str, ...] = Field(
        default=(),
        description="An opaque random token per identified person who entered (at most "
        "unique_visitors of them): the same person has the same token across cameras for the visitor TTL, so "
        "that reports count a person once per hour, day or store. Never a member id, never biometric.",
    )


class StatusEvent(BaseModel):
    """Camera status, retained; the broker publishes ``offline`` as the last will."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = SCHEMA_VERSION
    type: Literal["status"] = "status"
    store_id: str
    camera_id: str
    state: Literal["online", "reconnecting", "offline"]
    ts: str = Field(default_factory=now_iso)
    fps: float = 0.0
    detail: str = ""


Event = Annotated[ArrivalEvent | VisitorEvent | FootfallEvent, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[ArrivalEvent | VisitorEvent | FootfallEvent] = TypeAdapter(Event)
KIND_OF: dict[str, Kind] = {"vip_arrival": "arrival", "visitor": "visitor", "footfall": "footfall"}


def parse_event(payload: bytes | str) -> ArrivalEvent | VisitorEvent | FootfallEvent:
    """Validate a received payload (raises pydantic's ValidationError naming the bad field)."""
    return EVENT_ADAPTER.validate_json(payload)
