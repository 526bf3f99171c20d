"""Each store's boxes: every camera's last status and software version, and when head office last heard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storelens.hq.access import Analyst, Hq
from storelens.hq.registry import box_status

router = APIRouter(prefix="/chain", tags=["boxes"])


class BoxStatus(BaseModel):
    """One camera's last retained status, as its box published it."""

    store_id: str
    camera_id: str
    state: str = Field(description="online, reconnecting or offline (the broker's last will)")
    ts: str
    fps: float
    detail: str
    software: str = Field(description="The box's StoreLens version")
    received_at: str


class Health(BaseModel):
    """Head office's service health."""

    status: str
    events: int
    mqtt: str


@router.get("/boxes", response_model=list[BoxStatus])
def boxes(hq: Hq, who: Analyst) -> list[dict[str, Any]]:
    """Every store camera's last status."""
    return box_status(hq.events.engine)


@router.get("/health", response_model=Health)
def health(hq: Hq) -> Health:
    """Up, and whether the central broker's subscription stands (no token)."""
    return Health(status="ok", events=hq.events.count(), mqtt="subscribed" if hq.subscribed.is_set() else "connecting")
