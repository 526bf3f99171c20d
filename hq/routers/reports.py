"""Chain reports: footfall per store, region or chain on store-local days; store ranking; VIP arrivals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from storelens.bounds import IDENT
from storelens.hq.access import Analyst, Hq
from storelens.hq.chain_reports import Level, RankBy
from storelens.web.locale import Lang, translator_or_422
from storelens.web.reports import (
    FORMATS,
    Interval,
    Row,
    chart_png,
    export_response,
    footfall_title,
    local_span,
    parse_ts,
    period_refusal,
)

router = APIRouter(prefix="/chain", tags=["chain reports"])
LOCAL = "ISO 8601; a date or a time without an offset is each store's local time"
From = Annotated[str, Query(alias="from", max_length=40, description="start, inclusive; " + LOCAL)]
To = Annotated[str, Query(alias="to", max_length=40, description="end, exclusive; " + LOCAL)]


def _rows(hq: Hq, start: str, end: str, interval: Interval, level: Level, store: str | None = None) -> list[Row]:
    try:
        return hq.reports.rows(start, end, interval, level, store)
    except ValueError as exc:
        raise period_refusal(start, end, exc) from exc


@router.get(
    "/footfall", response_model=list[Row], responses={200: {"content": {"text/csv": {}, FORMATS["xlsx"][1]: {}}}}
)
def footfall(
    hq: Hq,
    who: Analyst,
    start: From,
    end: To,
    interval: Annotated[Interval, Query()] = "1d",
    level: Annotated[Level, Query(description="store, region or chain rows")] = "store",
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    store: Annotated[str | None, Query(pattern=IDENT, description="this store's rows only")] = None,
) -> object:
    """Entries, unique visitors, VIP arrivals, staff excluded, transactions, conversion and sales per bucket."""
    return export_response(
        _rows(hq, start, end, interval, level, store), format, f"chain-{level}-{start[:10]}-{end[:10]}-{interval}"
    )


@router.get("/footfall/chart.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def footfall_chart(
    hq: Hq,
    who: Analyst,
    start: From,
    end: To,
    interval: Annotated[Interval, Query()] = "1d",
    level: Annotated[Level, Query()] = "chain",
    lang: Lang = None,
) -> Response:
    """Entries per bucket (PNG), in head office's language (or ``lang``)."""
    rows = _rows(hq, start, end, interval, level)
    tr = translator_or_422(lang or hq.config.locale)
    where = {"chain": tr.gettext("the chain"), "region": tr.gettext("each region"), "store": tr.gettext("each store")}
    title = footfall_title(tr, interval, parse_ts(start), parse_ts(end), where[level])
    # each store's own local days: a date or a time without an offset is every store's clock; with one, head office's
    span = local_span(parse_ts(start, hq.config.timezone), parse_ts(end, hq.config.timezone), hq.config.timezone)
    return Response(chart_png(rows, title, tr, span, interval), media_type="image/png")


class Ranked(BaseModel):
    """A store's place and totals over the period."""

    rank: int
    store_id: str
    name: str
    region: str
    entries: int
    exits: int = 0
    passers_by: int = 0
    capture_rate: float | None = Field(default=None, description="entries / (entries + passers_by)")
    vip_arrivals: int
    transactions: int | None = Field(description="None: unavailable (each box keeps its till's data)")
    sales: float | None = Field(description="None: unavailable (each box keeps its till's data)")
    conversion: float | None


@router.get("/ranking", response_model=list[Ranked])
def ranking(
    hq: Hq, who: Analyst, start: From, end: To, by: Annotated[RankBy, Query()] = "entries"
) -> list[dict[str, Any]]:
    """Stores ranked, best first, by entries, conversion, sales, VIP arrivals or capture rate."""
    try:
        return hq.reports.ranking(start, end, by)
    except ValueError as exc:
        raise period_refusal(start, end, exc) from exc


class Arrivals(BaseModel):
    """VIP arrivals of a store: how many, and how many different members (never who)."""

    store_id: str
    region: str
    arrivals: int
    members: int


@router.get("/arrivals", response_model=list[Arrivals])
def arrivals(hq: Hq, who: Analyst, start: From, end: To) -> list[dict[str, Any]]:
    """VIP arrivals per store in the period (UTC)."""
    try:
        return hq.reports.arrivals(start, end)
    except ValueError as exc:
        raise period_refusal(start, end, exc) from exc
