"""MQTT payloads: versioned message models (shared/CONTRACT.md), and the one function that makes topics."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, model_validator

from storelens import __version__
from storelens.bounds import (
    MAX_PAYLOAD_BYTES,
    MAX_TOKENS,
    Count,
    EventId,
    Ident,
    MemberId,
    Similarity,
    Timestamp,
    TokenId,
    TrackId,
    parse_ts,
)
from storelens.clock import now_iso, utc_now
from storelens.errors import PayloadError, first_error

TOPIC_ROOT = "storelens/v1"
SCHEMA_VERSION = 1
MAX_AGE = timedelta(days=366)  # a received event older than this is refused (a year of outage at most)
MAX_AHEAD = timedelta(minutes=10)  # ... and one dated further ahead of the receiver's clock
MAX_INTERVAL = timedelta(days=1)  # the longest footfall interval
Kind = Literal["arrival", "visitor", "footfall", "status"]


def topic(store_id: str, camera_id: str, kind: Kind) -> str:
    """``storelens/v1/{store_id}/{camera_id}/{kind}``."""
    return f"{TOPIC_ROOT}/{store_id}/{camera_id}/{kind}"


def topic_filter(store_id: str = "+", camera_id: str = "+", kind: str = "+") -> str:
    """A subscription pattern over :func:`topic`'s levels (``+`` matches any one), e.g. every store's events."""
    return f"{TOPIC_ROOT}/{store_id}/{camera_id}/{kind}"


def parse_topic(name: str) -> tuple[str, str, str]:
    """(store id, camera id, kind) of a topic made by :func:`topic`.

    Raises:
        ValueError: the topic is not ``storelens/v1/{store}/{camera}/{kind}``.
    """
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or not all(parts[2:]):
        raise ValueError(f"not a StoreLens event topic: {name[:200]!r}")
    return parts[2], parts[3], parts[4]


def new_event_id() -> str:
    """A random UUID."""
    return str(uuid.uuid4())


def _when(value: str) -> datetime:
    return parse_ts(value)  # checked by the field's own validator already


class _Event(BaseModel):
    """Fields of every event.

    Parsed with ``parse_event`` (a received payload), an event must also carry its own ``event_id`` (a
    fresh one would defeat deduplication) and be dated within ``MAX_AGE`` / ``MAX_AHEAD`` of the
    receiver's clock.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION, description="Payload schema version")
    event_id: EventId = Field(default_factory=new_event_id, description="UUID; consumers deduplicate on it")
    store_id: Ident
    camera_id: Ident

    @model_validator(mode="before")
    @classmethod
    def _received_has_id(cls, data: object, info: ValidationInfo) -> object:
        if info.context and info.context.get("received") and isinstance(data, dict) and "event_id" not in data:
            raise ValueError("event_id is required in a received event (consumers deduplicate on it)")
        return data

    def times(self) -> list[str]:
        """The event's own times (ISO 8601), checked against the receiver's clock."""
        return []

    @model_validator(mode="after")
    def _dated_plausibly(self, info: ValidationInfo) -> _Event:
        now = info.context.get("now") if info.context else None
        if isinstance(now, datetime):
            for value in self.times():
                when = _when(value)
                if when < now - MAX_AGE:
                    raise ValueError(f"time {value} is more than {MAX_AGE.days} days old")
                if when > now + MAX_AHEAD:
                    raise ValueError(f"time {value} is in the future (the receiver's clock says {now:%Y-%m-%dT%H:%M}Z)")
        return self


class ArrivalEvent(_Event):
    """A VIP member walked in: once per member per visit (store-wide cooldown)."""

    type: Literal["vip_arrival"] = "vip_arrival"
    member_id: MemberId
    similarity: Similarity
    track_id: TrackId
    ts: Timestamp = Field(default_factory=now_iso)

    def times(self) -> list[str]:
        """The arrival's time."""
        return [self.ts]


class VisitorEvent(_Event):
    """An anonymous visitor, once per visit; ``returning`` when seen on an earlier visit within the TTL."""

    type: Literal["visitor"] = "visitor"
    anon_id: TokenId
    track_id: TrackId
    returning: bool
    entered: bool = Field(description="The person crossed the entry line into the store")
    ts: Timestamp = Field(default_factory=now_iso)

    def times(self) -> list[str]:
        """The visit's time."""
        return [self.ts]


class FootfallEvent(_Event):
    """Counts for one camera and interval."""

    type: Literal["footfall"] = "footfall"
    interval_start: Timestamp
    interval_end: Timestamp
    entries: Count
    unique_visitors: Count
    vip_arrivals: Count
    exits: Count = Field(default=0, description="People who crossed the entry line towards the street")
    passers_by: Count = Field(
        default=0, description="People seen on the street side of the line who did not cross it (capture rate)"
    )
    partial: bool = Field(default=False, description="The interval was cut short (end of a file source)")
    staff_excluded: Count = Field(
        default=0, description="Entries by people on the staff list: recognised, and not counted in entries"
    )
    unique_visitors_available: bool = Field(
        default=True,
        description="False where the privacy rules forbid re-identifying strangers (eu, count-only, no notice "
        "sign): unique_visitors is then 0 and means 'unavailable', and no token is sent",
    )
    visitor_tokens: tuple[TokenId, ...] = Field(
        default=(),
        max_length=MAX_TOKENS,
        description="An opaque random token per identified person who entered (at most "
        "unique_visitors of them): the same person has the same token across cameras for the visitor TTL, so "
        "that reports count a person once per hour, day or store. Never a member id, never biometric.",
    )

    def times(self) -> list[str]:
        """The interval's start and end."""
        return [self.interval_start, self.interval_end]

    @model_validator(mode="after")
    def _interval(self) -> FootfallEvent:
        start, end = _when(self.interval_start), _when(self.interval_end)
        if not start < end <= start + MAX_INTERVAL:
            raise ValueError("interval_end must be after interval_start, at most a day later")
        if len(self.visitor_tokens) > self.unique_visitors:
            raise ValueError("more visitor_tokens than unique_visitors")
        if not self.unique_visitors_available and (self.unique_visitors or self.visitor_tokens):
            raise ValueError("unique visitors unavailable: unique_visitors must be 0 and visitor_tokens empty")
        return self


class StatusEvent(BaseModel):
    """Camera status, retained; the broker publishes ``offline`` as the last will."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    type: Literal["status"] = "status"
    store_id: Ident
    camera_id: Ident
    state: Literal["online", "reconnecting", "offline"]
    ts: Timestamp = Field(default_factory=now_iso)
    fps: float = Field(default=0.0, ge=0, le=1000, allow_inf_nan=False)
    detail: str = Field(default="", max_length=300)
    software: str = Field(default=__version__, max_length=40, description="The box's StoreLens version (an extension)")


Event = Annotated[ArrivalEvent | VisitorEvent | FootfallEvent, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[ArrivalEvent | VisitorEvent | FootfallEvent] = TypeAdapter(Event)
KIND_OF: dict[str, Kind] = {"vip_arrival": "arrival", "visitor": "visitor", "footfall": "footfall"}


def parse_event(payload: bytes | str, now: datetime | None = None) -> ArrivalEvent | VisitorEvent | FootfallEvent:
    """Validate a received payload against its model, its own ``event_id`` and the receiver's clock.

    Raises:
        pydantic.ValidationError: naming the bad field.
    """
    return EVENT_ADAPTER.validate_json(payload, context={"received": True, "now": now or utc_now()})


M = TypeVar("M", bound=BaseModel)


def _check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload", f"{len(payload)} bytes, at most {MAX_PAYLOAD_BYTES} accepted")


def parse_payload(model: type[M], payload: bytes) -> M:
    """One MQTT payload into its model, at most ``MAX_PAYLOAD_BYTES``: the one check of every subscriber.

    Raises:
        PayloadError: too large, or not the model (naming the field).
    """
    _check_size(payload)
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise PayloadError(*first_error(exc)) from exc


def parse_event_payload(payload: bytes, now: datetime | None = None) -> ArrivalEvent | VisitorEvent | FootfallEvent:
    """:func:`parse_event` with the size bound and the one-line error of :func:`parse_payload`.

    Raises:
        PayloadError: too large, or not an event (naming the field).
    """
    _check_size(payload)
    try:
        return parse_event(payload, now)
    except ValidationError as exc:
        raise PayloadError(*first_error(exc, skip=1)) from exc  # a tagged union: the first part is the tag
