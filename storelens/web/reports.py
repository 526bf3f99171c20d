"""Footfall reports per store and camera, per 15 minutes, hour or day: rows, CSV, XLSX, JSON, chart.

Rows come from the stored footfall events (15-minute intervals by default), re-bucketed. Hours and days
are the store's own (``store.timezone``): a day runs from local midnight to local midnight, 23 or 25 hours
on the days the clocks change. ``interval_start``/``interval_end`` stay UTC, as in the MQTT events, and
``local_start`` gives the same instant in the store's time for a person reading the spreadsheet.

Unique visitors are people, not visits: each footfall event carries an opaque token per identified
person who entered, the same on every camera of the store for the visitor TTL (12 h by default), so a
person who comes in at 10:00 and again at 16:00, or by two doors, counts once in that day's row and in
the store's ``all`` row. Persons without a token (events from before tokens, or tracks still being
decided when the interval closed) are added as counted.

Where the privacy rules forbid re-identifying strangers (the eu profile, count-only mode, cn or us-il
without the notice sign) the events say unique visitors are unavailable; a row holding any such event
has ``unique_visitors`` None: ``unavailable`` in CSV and XLSX, null in JSON. Never a 0 that reads as
"nobody came".
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from storelens.bounds import EARLIEST_YEAR, LATEST_YEAR
from storelens.clock import floor_interval, iso
from storelens.i18n import FONT_FAMILIES, N_, Translator

if TYPE_CHECKING:
    from fastapi import Response

Interval = Literal["15m", "1h", "1d"]
MINUTES = {"15m": 15, "1h": 60, "1d": 1440}
COLUMNS = [
    "store_id",
    "camera_id",
    "interval_start",
    "interval_end",
    "local_start",
    "entries",
    "exits",
    "passers_by",
    "capture_rate",
    "occupancy",
    "unique_visitors",
    "vip_arrivals",
    "staff_excluded",
    "transactions",
    "conversion",
    "sales",
    "average_basket",
    "member_sales_share",
    "other_sales",
]

Sale = tuple[str, int, str, bool]  # (time, amount in minor units, currency, by a member): EventLog.sales


@dataclass(frozen=True)
class Row:
    """One camera (or ``all`` cameras of the store) for one bucket."""

    store_id: str
    camera_id: str
    interval_start: str
    interval_end: str
    local_start: str
    entries: int
    unique_visitors: int | None  # None: unavailable under the privacy rules in force
    vip_arrivals: int
    staff_excluded: int = 0  # staff passes not counted as entries (the manual: Staff are not customers)
    transactions: int | None = None  # store rows only (sales are the store's, not a camera's)
    conversion: float | None = None  # transactions / entries
    sales: float | None = None  # in store.currency
    average_basket: float | None = None  # sales / transactions in store.currency
    member_sales_share: float | None = None  # sales to members / sales
    other_sales: str = ""  # sales in other currencies, each summed in its own: "USD 50.00; GBP 20.00"
    exits: int = 0
    passers_by: int = 0  # seen on the street side of the entry line, never crossed it
    capture_rate: float | None = None  # entries / (entries + passers_by); None where nobody was seen
    occupancy: int = 0  # people inside at the bucket's end: entries minus exits since the store's midnight, >= 0


UNAVAILABLE = "unavailable"


@dataclass
class _Sums:
    """A bucket being summed: visitors with a token are counted once however many events name them."""

    entries: int = 0
    exits: int = 0
    passers_by: int = 0
    vip_arrivals: int = 0
    tokens: set[str] = field(default_factory=set)
    untokened: int = 0  # visitors without a token (still being decided, or events from before tokens)
    staff: int = 0
    unavailable: bool = False  # an event of the bucket could not count unique visitors (privacy rules)


def parse_ts(text: str, timezone: str = "UTC") -> datetime:
    """ISO 8601 to an aware UTC datetime.

    A time with ``Z`` or an offset is that instant; a date alone, or a time without an offset, is the
    store's local time in ``timezone`` (``2026-11-22`` is the store's midnight).
    """
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if not EARLIEST_YEAR <= value.year < LATEST_YEAR:  # also keeps zone arithmetic inside datetime's range
        raise ValueError(f"{text}: a time between {EARLIEST_YEAR} and {LATEST_YEAR} is expected")
    return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))).astimezone(UTC)


class EmptyPeriod(ValueError):
    """A report's period ends where or before it starts."""

    def __init__(self) -> None:
        super().__init__("to must be after from")


def period_refusal(start: str, end: str, exc: ValueError) -> Any:
    """A report's period refused (422) in words a page translates: not a time, or an empty period."""
    from fastapi import status

    from storelens.web.pages import Shown

    if isinstance(exc, EmptyPeriod):
        return Shown(status.HTTP_422_UNPROCESSABLE_CONTENT, N_("To must be after from."), f"from/to: {exc}")
    try:
        parse_ts(start)
        value = end
    except ValueError:
        value = start
    return Shown(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        N_("From and to must be dates or times (ISO 8601, like 2026-11-21): {value} is not."),
        f"from/to: not ISO 8601 times: {exc}",
        value=value[:40],
    )


def store_day(timezone: str, now: datetime) -> tuple[date, datetime, datetime]:
    """The store's calendar day at ``now``: the date, and its local midnights as UTC start and end."""
    zone = ZoneInfo(timezone)
    start, end = bucket(now, "1d", zone)
    return now.astimezone(zone).date(), start, end


def bucket(ts: datetime, interval: Interval, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """The bucket holding ``ts``: its start and end in UTC, days and hours counted in ``tz`` (default UTC)."""
    zone = tz or ZoneInfo("UTC")
    local = ts.astimezone(zone)
    if interval == "1d":
        start = datetime.combine(local.date(), time(0), tzinfo=zone)
        end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)
    if interval == "1h":  # local hours: they differ from UTC hours where the offset is not whole hours
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    else:  # every offset in use is a multiple of 15 minutes
        start = floor_interval(ts.astimezone(UTC), MINUTES[interval])
    return start, start + timedelta(minutes=MINUTES[interval])


def footfall_rows(
    events: list[dict[str, Any]],
    interval: Interval,
    timezone: str = "UTC",
    sales: dict[str, list[Sale]] | None = None,
    currency: str = "EUR",
) -> list[Row]:
    """Per camera and bucket, plus an ``all`` row per bucket when the store has several cameras.

    Args:
        events: stored footfall events (``interval_start`` ISO 8601 and the counts).
        interval: bucket length.
        timezone: the store's IANA time zone: where its days and hours begin.
        sales: per store id, its transactions in the period: the store rows (``all``, or the one camera's)
            then carry transactions, conversion, sales, average basket and member share. None: the till's data
            is not here (head office), and those figures are None (unavailable), never 0.
        currency: sales are summed in this currency (others count as transactions only).
    """
    zone = ZoneInfo(timezone)
    sums: dict[tuple[str, str, datetime, datetime], _Sums] = {}
    for ev in events:
        start, end = bucket(parse_ts(ev["interval_start"]), interval, zone)
        tokens = set(ev.get("visitor_tokens") or ())
        for camera in (ev["camera_id"], "all"):
            acc = sums.setdefault((ev["store_id"], camera, start, end), _Sums())
            acc.entries += int(ev["entries"])
            acc.exits += int(ev.get("exits") or 0)
            acc.passers_by += int(ev.get("passers_by") or 0)
            acc.vip_arrivals += int(ev["vip_arrivals"])
            acc.tokens |= tokens
            acc.untokened += max(0, int(ev["unique_visitors"]) - len(tokens))
            acc.unavailable |= ev.get("unique_visitors_available") is False
            acc.staff += int(ev.get("staff_excluded") or 0)
    cameras = {k[1] for k in sums if k[1] != "all"}
    till = _sales_by_bucket(sales, interval, zone, currency) if sales is not None else None
    rows = []
    for (s, c, t, e), v in sums.items():
        if c == "all" and len(cameras) <= 1:
            continue
        store_row = c == "all" or len(cameras) <= 1
        money = (money_fields(v.entries, till.get((s, t))) if till is not None else TILL_ELSEWHERE) if store_row else {}
        rows.append(
            Row(
                s,
                c,
                iso(t),
                iso(e),
                t.astimezone(zone).isoformat(timespec="minutes"),
                v.entries,
                None if v.unavailable else len(v.tokens) + v.untokened,
                v.vip_arrivals,
                v.staff,
                **money,
                **people_fields(v.entries, v.exits, v.passers_by),
            )
        )
    # a bucket in which the till sold and no camera counted is a store row too: every sale is in the report
    store_camera = "all" if len(cameras) != 1 else next(iter(cameras))
    for (s, t), sold in (till or {}).items():
        t, e = bucket(t, interval, zone)
        if (s, store_camera, t, e) not in sums and (s, "all", t, e) not in sums:
            local = t.astimezone(zone).isoformat(timespec="minutes")
            rows.append(
                Row(s, store_camera, iso(t), iso(e), local, 0, 0, 0, **money_fields(0, sold), **people_fields(0, 0, 0))
            )
    return with_occupancy(sorted(rows, key=lambda r: (r.interval_start, r.camera_id == "all", r.camera_id)))


def with_occupancy(rows: list[Row]) -> list[Row]:
    """``rows`` (in their order) with each one's occupancy: the people inside at its end.

    Entries minus exits, run per store (or group) and camera through each local day in time order, from its
    first row (the count resets at the store's midnight, its opening); never below zero (someone who was inside
    before the count began, walking out, takes nobody away).
    """
    inside: dict[tuple[str, str, str], int] = {}
    occupancy = [0] * len(rows)
    for i in sorted(range(len(rows)), key=lambda k: rows[k].local_start):
        r = rows[i]
        key = (r.store_id, r.camera_id, r.local_start[:10])
        inside[key] = max(0, inside.get(key, 0) + r.entries - r.exits)
        occupancy[i] = inside[key]
    return [replace(r, occupancy=n) for r, n in zip(rows, occupancy, strict=True)]


@dataclass
class _Till:
    transactions: int = 0
    sales_minor: int = 0
    in_currency: int = 0
    member_minor: int = 0
    others: dict[str, int] = field(default_factory=dict)  # currency -> minor units


def _sales_by_bucket(
    sales: dict[str, list[Sale]], interval: Interval, zone: ZoneInfo, currency: str
) -> dict[tuple[str, datetime], _Till]:
    out: dict[tuple[str, datetime], _Till] = {}
    for store_id, rows in sales.items():
        for ts, amount, cur, by_member in rows:
            till = out.setdefault((store_id, bucket(parse_ts(ts), interval, zone)[0]), _Till())
            till.transactions += 1
            if cur == currency:
                till.sales_minor += amount
                till.in_currency += 1
                till.member_minor += amount if by_member else 0
            else:  # never counted without being summed: in its own currency
                till.others[cur] = till.others.get(cur, 0) + amount
    return out


def people_fields(entries: int, exits: int, passers_by: int) -> dict[str, Any]:
    """Exits, passers-by and the capture rate (进店率: entries / (entries + passers-by)) of a row."""
    seen = entries + passers_by
    return {"exits": exits, "passers_by": passers_by, "capture_rate": round(entries / seen, 4) if seen else None}


TILL_ELSEWHERE: dict[str, Any] = {  # head office: each box keeps its sales; unavailable, never 0
    "transactions": None,
    "conversion": None,
    "sales": None,
    "average_basket": None,
    "member_sales_share": None,
    "other_sales": "",
}


def money_fields(entries: int, till: _Till | None = None) -> dict[str, Any]:
    """Conversion and sales of a store row (zeros when the store sold nothing in the bucket).

    Where the till's data is not held (head office), a row takes :data:`TILL_ELSEWHERE` instead.
    """
    till = till or _Till()
    return {
        "transactions": till.transactions,
        "conversion": round(till.transactions / entries, 4) if entries else None,
        "sales": till.sales_minor / 100,
        "average_basket": round(till.sales_minor / till.in_currency / 100, 2) if till.in_currency else None,
        "member_sales_share": round(till.member_minor / till.sales_minor, 4) if till.sales_minor else None,
        "other_sales": "; ".join(f"{cur} {minor / 100:.2f}" for cur, minor in sorted(till.others.items())),
    }


def to_csv(rows: list[Row]) -> bytes:
    """CSV with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow(_cells(r))
    return out.getvalue().encode()


def _cells(row: Row) -> dict[str, Any]:
    """A row for a spreadsheet: an unavailable figure says so."""
    cells = asdict(row)
    if row.unique_visitors is None:
        cells["unique_visitors"] = UNAVAILABLE
    if row.transactions is None:  # the till's data is not here (head office)
        cells["transactions"] = cells["sales"] = UNAVAILABLE
    return cells


def to_json(rows: list[Row]) -> bytes:
    """A JSON array of row objects."""
    return json.dumps([asdict(r) for r in rows], indent=1).encode()


def to_xlsx(rows: list[Row]) -> bytes:
    """An Excel workbook: one sheet of rows, numbers as numbers."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "footfall"
    ws.append(COLUMNS)
    for r in rows:
        cells = _cells(r)
        ws.append([cells[column] for column in COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


INTERVAL_WORDS = {"15m": N_("Entries per 15 minutes"), "1h": N_("Entries per hour"), "1d": N_("Entries per day")}


def footfall_title(tr: Translator, interval: str, start: datetime, end: datetime, where: str) -> str:
    """The footfall chart's title, the same from the CLI, the store API and head office.

    The period is the store-local days [start, end) covers: one day for a day, never its exclusive end.
    """
    what = tr.gettext(INTERVAL_WORDS[interval])
    return tr.gettext("{what}, {where}, {period}", what=what, where=where, period=tr.days(start, end))


MAX_LABELS = 16  # more buckets than this: every n-th one is labelled


def local_span(start: datetime, end: datetime, zone: str) -> tuple[datetime, datetime]:
    """A period's local clock times in ``zone`` (naive): the buckets a chart of it shows run from one to the other."""
    tz = ZoneInfo(zone)
    return start.astimezone(tz).replace(tzinfo=None), end.astimezone(tz).replace(tzinfo=None)


def chart_buckets(
    rows: list[Row], span: tuple[datetime, datetime] | None, interval: Interval
) -> list[tuple[datetime, int, float | None]]:
    """Every bucket of the period, in order: its local start, entries and conversion (None: none to show).

    A bucket with nothing counted is a bar of 0, so that 7 days are 7 bars; rows that share a local start (the
    chain's zones, an hour repeated when clocks go back) are summed. Without ``span``, the rows' own buckets.
    """
    by_start: dict[datetime, list[Row]] = {}
    for r in rows:
        by_start.setdefault(datetime.fromisoformat(r.local_start[:16]), []).append(r)
    if span is None:
        starts = sorted(by_start)
    else:
        step = timedelta(minutes=MINUTES[interval]) if interval != "1d" else timedelta(days=1)
        first = span[0].replace(second=0, microsecond=0)
        starts, at = [], first
        while at < span[1] and len(starts) < MAX_BUCKETS:
            starts.append(at)
            at += step
    out = []
    for at in starts:
        here = by_start.get(at, [])
        entries = sum(r.entries for r in here)
        sold = [r.transactions for r in here if r.transactions is not None]
        conversion = sum(sold) / entries if sold and entries else None
        out.append((at, entries, conversion))
    return out


MAX_BUCKETS = 3000  # a chart's bars at most (31 days of 15 minutes)


def chart_png(
    rows: list[Row],
    title: str,
    tr: Translator | None = None,
    span: tuple[datetime, datetime] | None = None,
    interval: Interval = "1h",
) -> bytes:
    """:func:`chart_figure` as a PNG."""
    return figure_png(chart_figure(rows, title, tr, span, interval))


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes, the figure closed (the footfall chart and the health radar)."""
    import matplotlib.pyplot as plt

    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def chart_figure(
    rows: list[Row],
    title: str,
    tr: Translator | None = None,
    span: tuple[datetime, datetime] | None = None,
    interval: Interval = "1h",
) -> Any:
    """Entries per interval, a bar per interval (all cameras of the store), in the store's locale (a figure).

    With ``span`` (the period's local clock times, :func:`local_span`), every bucket of the period is a bar, those
    with nothing counted at 0, and a chart across several days labels each bar with its date. When the store sold
    anything, conversion (transactions / entries) is drawn as a line on a fixed 0-100 % right axis, so that two
    charts compare; a legend names both.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    tr = tr or Translator()
    cameras = {r.camera_id for r in rows}
    keep = [r for r in rows if r.camera_id == "all" or len(cameras) == 1]
    if span is None and keep:
        daily = all(parse_ts(r.interval_end) - parse_ts(r.interval_start) >= timedelta(hours=23) for r in keep)
        interval = "1d" if daily else interval
    daily = interval == "1d"
    shown = chart_buckets(keep, span, interval)
    starts = [at for at, _, _ in shown]
    one_day = len({s.date() for s in starts}) <= 1
    labels = [
        tr.day(s.date()) if daily else tr.time(s) if one_day else f"{tr.day(s.date())}\n{tr.time(s)}" for s in starts
    ]
    with plt.rc_context({"font.family": FONT_FAMILIES}):
        fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
        x = list(range(len(shown)))
        bars = ax.bar(x, [entries for _, entries, _ in shown], color="#2f6fb0", label=tr.gettext("entries"))
        ax.set_ylabel(tr.gettext("entries"))
        step = max(1, -(-len(x) // MAX_LABELS))
        ax.set_xticks(x[::step], labels[::step])
        ax.tick_params(axis="x", labelsize=9)
        handles: list[Any] = [bars]
        if any(r.transactions for r in keep):
            conv = ax.twinx()
            (line,) = conv.plot(x, [100 * c if c is not None else float("nan") for _, _, c in shown],
                                color="#b7791f", marker="o", linewidth=2, label=tr.gettext("conversion"))  # fmt: skip
            conv.set_ylim(0, 100)
            conv.yaxis.set_major_formatter(FuncFormatter(lambda v, _: tr.percent(v / 100)))
            conv.set_ylabel(tr.gettext("conversion"))
            handles.append(line)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16 if one_day or daily else -0.24),
                  ncol=2, fontsize=9, frameon=False)  # fmt: skip
        ax.set_title(title, fontsize=12)
        ax.set_xlim(-0.6, max(len(x), 6) - 0.4)  # a few buckets stay bars, not a wall
        fig.tight_layout()
    return fig


FORMATS = {
    "csv": (to_csv, "text/csv"),
    "json": (to_json, "application/json"),
    "xlsx": (to_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def export_response(rows: list[Row], format: str, stem: str) -> list[Row] | Response:
    """Rows as JSON (for the route's response model), or a CSV or XLSX download named ``stem.format``."""
    from fastapi import Response  # only where a route answers: the CLI's reports start without FastAPI

    if format == "json":
        return rows
    writer, media = FORMATS[format]
    disposition = f'attachment; filename="{stem}.{format}"'
    return Response(writer(rows), media_type=media, headers={"Content-Disposition": disposition})
