"""Footfall reports (with conversion) and the store health radar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc
from storelens.api.radar import radar_png, radar_title, reference_note, shown, store_health
from storelens.api.routers.locale import store_translator
from storelens.bounds import IDENT
from storelens.clock import iso
from storelens.web.locale import Lang
from storelens.web.reports import (
    FORMATS,
    EmptyPeriod,
    Interval,
    Row,
    chart_png,
    export_response,
    footfall_rows,
    footfall_title,
    local_span,
    parse_ts,
    period_refusal,
)

router = APIRouter(prefix="/reports", tags=["reports"])
LOCAL = "without an offset, the store's local time (store.timezone)"


def _period(svc: Svc, start: str, end: str) -> tuple[datetime, datetime]:
    """``from``/``to`` as UTC instants (the store's local time where they carry no offset), or 422."""
    zone = svc.config.store.timezone
    try:
        a, b = parse_ts(start, zone), parse_ts(end, zone)
    except ValueError as exc:
        raise period_refusal(start, end, exc) from exc
    if b <= a:
        raise period_refusal(start, end, EmptyPeriod())
    return a, b


def _rows(svc: Svc, start: str, end: str, interval: Interval) -> list[Row]:
    zone = svc.config.store.timezone
    a, b = _period(svc, start, end)
    sales = svc.books.commerce.sales(iso(a), iso(b))
    return footfall_rows(svc.books.events.footfall(iso(a), iso(b)), interval, zone, sales, svc.config.store.currency)


@router.get(
    "/footfall", response_model=list[Row], responses={200: {"content": {"text/csv": {}, FORMATS["xlsx"][1]: {}}}}
)
def footfall(
    svc: Svc,
    who: Admin,
    start: Annotated[str, Query(alias="from", max_length=40, description="ISO 8601 start, inclusive; " + LOCAL)],
    end: Annotated[str, Query(alias="to", max_length=40, description="ISO 8601 end, exclusive; " + LOCAL)],
    interval: Annotated[Interval, Query()] = "15m",
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
) -> object:
    """Entries, unique visitors and VIP arrivals per camera and interval, as JSON, CSV or XLSX."""
    return export_response(_rows(svc, start, end, interval), format, f"footfall-{start[:10]}-{end[:10]}-{interval}")


@router.get("/footfall/chart.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def footfall_chart(
    svc: Svc,
    who: Admin,
    start: Annotated[str, Query(alias="from", max_length=40)],
    end: Annotated[str, Query(alias="to", max_length=40)],
    interval: Annotated[Interval, Query()] = "1h",
    lang: Lang = None,
) -> Response:
    """A bar chart of entries per interval (PNG)."""
    tr = store_translator(svc, lang)
    rows = _rows(svc, start, end, interval)
    a, b = _period(svc, start, end)
    store = svc.config.store
    title = footfall_title(tr, interval, a, b, store.name or store.id)
    span = local_span(a, b, store.timezone)  # every bucket of the period a bar, nothing counted at 0
    return Response(chart_png(rows, title, tr, span, interval), media_type="image/png")


class CameraOutcomes(BaseModel):
    """What the associates said of one camera's announcements in a period."""

    camera_id: str
    announced: int = Field(description="VIP arrivals announced")
    confirmed: int = Field(description="taken by an associate (I'll take this) and not rejected")
    rejected: int = Field(description="'Not this person'")
    unanswered: int
    rejected_share: float | None = Field(description="rejected / (confirmed + rejected); null before any answer")
    lowest_confirmed: float | None = Field(description="the lowest similarity an associate confirmed")
    highest_rejected: float | None = Field(description="the highest similarity an associate rejected")


@router.get("/announcements", response_model=list[CameraOutcomes])
def announcements(
    svc: Svc,
    who: Admin,
    start: Annotated[str, Query(alias="from", max_length=40, description="ISO 8601 start, inclusive; " + LOCAL)],
    end: Annotated[str, Query(alias="to", max_length=40, description="ISO 8601 end, exclusive; " + LOCAL)],
) -> list[CameraOutcomes]:
    """Each camera's announcements and the associates' verdicts on them (confirmed, rejected, unanswered)."""
    a, b = _period(svc, start, end)
    announced = svc.books.events.arrivals_by_camera(iso(a), iso(b))
    said: dict[str, list[tuple[str, float]]] = {}
    for v in svc.books.events.verdicts(iso(a), iso(b)):
        said.setdefault(v.camera_id, []).append((v.verdict, v.similarity))
    out = []
    for camera in sorted(set(announced) | set(said)):
        words = said.get(camera, [])
        yes = [s for w, s in words if w == "confirmed"]
        no = [s for w, s in words if w == "rejected"]
        out.append(
            CameraOutcomes(
                camera_id=camera,
                announced=announced.get(camera, 0),
                confirmed=len(yes),
                rejected=len(no),
                unanswered=max(0, announced.get(camera, 0) - len(words)),
                rejected_share=round(len(no) / len(words), 4) if words else None,
                lowest_confirmed=min(yes) if yes else None,
                highest_rejected=max(no) if no else None,
            )
        )
    return out


class HealthReport(BaseModel):
    """The store health radar: five scores (0-100, null without data), the measures, and the reference."""

    store_id: str
    scores: dict[str, float | None]
    measures: dict[str, float | None]
    reference: dict[str, float | None] | None
    reference_scores: dict[str, float | None] | None
    basis: str = Field(description="own baseline (4 previous periods), or the chain median at head office")
    no_reference: list[str] = Field(description="Relative axes with data and no reference yet: not scored")
    note: str = Field(description="What the reference is and where it has no data, in the store's language")
    shown: dict[str, dict[str, str]] = Field(
        description="What a person reads of each score and reference score (the chart draws the same)"
    )


@router.get("/health", response_model=HealthReport, responses={200: {"content": {"image/png": {}}}})
def health(
    svc: Svc,
    who: Admin,
    start: Annotated[str, Query(alias="from", max_length=40, description="ISO 8601 start, inclusive; " + LOCAL)],
    end: Annotated[str, Query(alias="to", max_length=40, description="ISO 8601 end, exclusive; " + LOCAL)],
    store: Annotated[str | None, Query(max_length=64, pattern=IDENT, description="default: this store")] = None,
    format: Annotated[str, Query(pattern="^(json|png)$")] = "json",
    lang: Lang = None,
) -> object:
    """The store health radar for a period (the manual: every formula), as JSON or a PNG radar."""
    tr = store_translator(svc, lang)
    a, b = _period(svc, start, end)
    store_id = store or svc.config.store.id
    with svc.books.engine.connect() as conn:
        result = {"store_id": store_id} | store_health(conn, store_id, a, b, svc.config.store.currency)
    if format == "png":
        name = svc.config.store.name if store_id == svc.config.store.id and svc.config.store.name else store_id
        return Response(radar_png(result, radar_title(tr, name, a, b), tr), media_type="image/png")
    return HealthReport(**result, note=reference_note(tr, result), shown=shown(tr, result))
