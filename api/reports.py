"""Footfall reports per store and camera, per 15 minutes, hour or day: rows, CSV, XLSX, JSON, chart.

Rows come from the stored footfall events (15-minute intervals by default), re-bucketed. Unique visitors
of a longer bucket are the sum of its intervals' unique visitors: a person seen in two intervals of the
same hour counts twice in that hour.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from edge.events import floor_interval
from gallery.records import iso

Interval = Literal["15m", "1h", "1d"]
MINUTES = {"15m": 15, "1h": 60, "1d": 1440}
COLUMNS = ["store_id", "camera_id", "interval_start", "interval_end", "entries", "unique_visitors", "vip_arrivals"]


@dataclass(frozen=True)
class Row:
    """One camera (or ``all`` cameras of the store) for one bucket."""

    store_id: str
    camera_id: str
    interval_start: str
    interval_end: str
    entries: int
    unique_visitors: int
    vip_arrivals: int


def parse_ts(text: str) -> datetime:
    """ISO 8601 (``Z`` or an offset; a date alone is midnight UTC) to an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def bucket(ts: datetime, interval: Interval) -> datetime:
    """Start of the bucket holding ``ts``."""
    if interval == "1d":
        return ts.replace(hour=0, minute=0, second=0, microsecond=0)
    return floor_interval(ts, MINUTES[interval])


def footfall_rows(events: list[dict[str, Any]], interval: Interval) -> list[Row]:
    """Per camera and bucket, plus an ``all`` row per bucket when the store has several cameras."""
    sums: dict[tuple[str, str, datetime], list[int]] = {}
    for ev in events:
        start = bucket(parse_ts(ev["interval_start"]), interval)
        for camera in (ev["camera_id"], "all"):
            acc = sums.setdefault((ev["store_id"], camera, start), [0, 0, 0])
            acc[0] += int(ev["entries"])
            acc[1] += int(ev["unique_visitors"])
            acc[2] += int(ev["vip_arrivals"])
    cameras = {k[1] for k in sums if k[1] != "all"}
    length = timedelta(minutes=MINUTES[interval])
    rows = [Row(s, c, iso(t), iso(t + length), *v) for (s, c, t), v in sums.items() if c != "all" or len(cameras) > 1]
    return sorted(rows, key=lambda r: (r.interval_start, r.camera_id == "all", r.camera_id))


def to_csv(rows: list[Row]) -> bytes:
    """CSV with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
        writer.writerow(asdict(r))
    return out.getvalue().encode()


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
        ws.append([r.store_id, r.camera_id, r.interval_start, r.interval_end, r.entries, r.unique_visitors,
                   r.vip_arrivals])  # fmt: skip
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def chart_png(rows: list[Row], title: str) -> bytes:
    """Entries per interval, a bar per interval (all cameras of the store)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cameras = {r.camera_id for r in rows}
    keep = [r for r in rows if r.camera_id == "all" or len(cameras) == 1]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    ax.bar([r.interval_start[5:16].replace("T", " ") for r in keep], [r.entries for r in keep], color="#2f6fb0")
    ax.set_ylabel("entries")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


FORMATS = {"csv": (to_csv, "text/csv"), "json": (to_json, "application/json"),
           "xlsx": (to_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}  # fmt: skip
