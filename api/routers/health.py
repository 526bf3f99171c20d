"""Health: the only route without a token."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storelens.api.auth import Svc

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Service health."""

    status: str
    events: int
    mqtt: str = Field(description="the MQTT ingest: subscribed, connecting, or no ingest")


@router.get("/health", response_model=Health)
def health(svc: Svc) -> Health:
    """The service is up and its database answers; whether it receives the store's events."""
    return Health(status="ok", events=svc.books.events.count(), mqtt=svc.mqtt_state())
