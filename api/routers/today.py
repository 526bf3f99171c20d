"""Today at a glance, for the associates: entries per hour, unique visitors, VIP arrivals."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storelens.api.auth import Associate, Svc
from storelens.clock import iso, utc_now
from storelens.web.reports import Row, footfall_rows, parse_ts, store_day

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
    counted_to: str | None = Field(
        description="The store-local end (ISO) of the last interval counted: entries are counted when an interval "
        "closes (edge.interval_minutes), so VIP arrivals, announced at once, can be ahead of them; null before any"
    )
    unique_visitors: int | None = Field(
        description="null when the privacy rules forbid re-identifying strangers: unavailable, not zero"
    )
    vip_arrivals: int
    staff_excluded: int = Field(description="Staff passes not counted as entries")
    exits: int = Field(default=0, description="People who crossed the entry line towards the street")
    passers_by: int = Field(default=0, description="People seen outside the entry line who did not come in")
    capture_rate: float | None = Field(
        default=None, description="entries / (entries + passers_by) (进店率); null before anyone was seen"
    )
    occupancy: int = Field(default=0, description="People inside now: entries minus exits since midnight, >= 0")
    transactions: int
    conversion: float | None = Field(description="transactions / entries; null before the first entry")
    average_basket: float | None = Field(description="In store.currency")
    member_sales_share: float | None
    currency: str


@router.get("", response_model=Today)
def today(svc: Svc, who: Associate) -> Today:
    """Totals since the store's midnight across its cameras."""
    zone = svc.config.store.timezone
    date, start, end = store_day(zone, utc_now())
    events = svc.books.events.footfall(iso(start), iso(end), svc.config.store.id)
    hours = _store_rows(footfall_rows(events, "1h", zone))
    # Unique visitors of the day come from the day's own bucket (the daily report's figure): a person seen
    # at 10:00 and at 16:00 is one visitor, which a sum of hourly uniques would count twice.
    sales = svc.books.commerce.sales(iso(start), iso(end), svc.config.store.id)
    currency = svc.config.store.currency
    day_rows = _store_rows(footfall_rows(events, "1d", zone, sales, currency))
    arrivals = svc.books.events.count("vip_arrival", since=iso(start))
    day = day_rows[0] if day_rows else None
    till = sales.get(svc.config.store.id, [])
    return Today(
        date=date.isoformat(),
        entries_per_hour=[HourCount(hour=r.local_start[11:16], entries=r.entries) for r in hours],
        entries=sum(r.entries for r in hours),
        counted_to=_counted_to(events, zone),
        unique_visitors=None
        if any(r.unique_visitors is None for r in day_rows)
        else sum(r.unique_visitors or 0 for r in day_rows),
        vip_arrivals=arrivals,
        staff_excluded=sum(r.staff_excluded for r in day_rows),
        exits=sum(r.exits for r in day_rows),
        passers_by=sum(r.passers_by for r in day_rows),
        capture_rate=day.capture_rate if day else None,
        occupancy=day.occupancy if day else 0,
        transactions=day.transactions or 0 if day else len(till),
        conversion=day.conversion if day else None,
        average_basket=day.average_basket if day else None,
        member_sales_share=day.member_sales_share if day else None,
        currency=currency,
    )


def _counted_to(events: list[dict[str, Any]], zone: str) -> str | None:
    """The local end of the latest interval among ``events`` (footfall payloads), ISO; None without any."""
    if not events:
        return None
    return max(parse_ts(e["interval_end"]) for e in events).astimezone(ZoneInfo(zone)).isoformat()


def _store_rows(rows: list[Row]) -> list[Row]:
    """The store-wide rows: ``all`` when there are several cameras, else the one camera's."""
    cameras = {r.camera_id for r in rows}
    return [r for r in rows if r.camera_id == "all" or len(cameras) == 1]
