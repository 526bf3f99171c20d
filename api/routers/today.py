"""Today at a glance, for the associates: entries per hour, unique visitors, VIP arrivals."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import Associate, Svc
from api.reports import footfall_rows, store_day
from gallery.records import iso, utc_now

router = APIRouter(prefix="/today", tags=["today"])


class HourCount(BaseModel):
    """Entries in one hour."""

    hour: str
    entries: int


class Today(BaseModel):
    """Today's store totals; the day and its hours are the store's own (``store.timezone``)."""

    date: str
    entries_per_hour: list[HourCount]
    entries: int
    unique_visitors: int
    vip_arrivals: int


@router.get("", response_model=Today)
def today(svc: Svc, who: Associate) -> Today:
    """Totals since the store's midnight across its cameras."""
    zone = svc.config.store.timezone
    day, start, end = store_day(zone, utc_now())
    rows = footfall_rows(svc.store.footfall(iso(start), iso(end), svc.config.store.id), "1h", zone)
    cameras = {r.camera_id for r in rows}
    store_rows = [r for r in rows if r.camera_id == "all" or len(cameras) == 1]
    arrivals = svc.store.count("vip_arrival", since=iso(start))
    return Today(
        date=day.isoformat(),
        entries_per_hour=[HourCount(hour=r.local_start[11:16], entries=r.entries) for r in store_rows],
        entries=sum(r.entries for r in store_rows),
        unique_visitors=sum(r.unique_visitors for r in store_rows),
        vip_arrivals=arrivals,
    )
