"""Today at a glance, for the associates: entries per hour, unique visitors, VIP arrivals."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import Associate, Svc
from api.reports import footfall_rows
from gallery.records import iso, utc_now

router = APIRouter(prefix="/today", tags=["today"])


class HourCount(BaseModel):
    """Entries in one hour."""

    hour: str
    entries: int


class Today(BaseModel):
    """Today's store totals (UTC day)."""

    date: str
    entries_per_hour: list[HourCount]
    entries: int
    unique_visitors: int
    vip_arrivals: int


@router.get("", response_model=Today)
def today(svc: Svc, who: Associate) -> Today:
    """Totals since midnight (UTC) across the store's cameras."""
    start = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = footfall_rows(svc.store.footfall(iso(start), iso(start + timedelta(days=1)), svc.config.store.id), "1h")
    cameras = {r.camera_id for r in rows}
    store_rows = [r for r in rows if r.camera_id == "all" or len(cameras) == 1]
    arrivals = svc.store.count("vip_arrival", since=iso(start))
    return Today(
        date=start.date().isoformat(),
        entries_per_hour=[HourCount(hour=r.interval_start[11:16], entries=r.entries) for r in store_rows],
        entries=sum(r.entries for r in store_rows),
        unique_visitors=sum(r.unique_visitors for r in store_rows),
        vip_arrivals=arrivals,
    )
