"""Health (with /locale, the only routes without a token) and the process's counters."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc

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


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(svc: Svc, _: Admin) -> PlainTextResponse:
    """Counters in Prometheus' text format (an admin token): head office's commands refused and applied."""
    return PlainTextResponse(svc.metrics.text(), media_type="text/plain; version=0.0.4")
