"""The store health radar: five scores from 0 to 100 for a store and a period.

Every formula is here and in the manual (docs/store-manager.md).

Measures of the period (store-local days as for reports):

- ``entries`` E (footfall), ``new_visitors`` N and ``returning_visitors`` V (visitor events of people who
  entered), ``transactions`` T, ``sales`` S and ``member_sales`` Sm (in ``store.currency``),
  ``vip_arrivals`` A, ``vip_taken`` (arrivals an associate took), the median seconds to take one, and the
  distinct members who arrived.

Scores (each capped to 0..100; ``None`` where the period has no data for it):

- **acquisition** = 50 x mean(E / E_ref, N / N_ref): 50 is the reference, 100 twice it;
- **conversion** = 50 x (T / E) / (T / E)_ref;
- **service** = 100 x (taken / A) x min(1, 60 s / median seconds to take): every VIP taken within a
  minute scores 100;
- **retention** = 50 x V / (N + V) + 50 x min(1, VIP visits per member per 30 days / 4);
- **member value** = 100 x Sm / S.

The reference (``_ref``) is the store's own baseline, the mean of the four periods of the same length
before it; at head office, where several stores' data are present, it is the chain's median store for the
same period. Without a reference (a new store) the relative scores (acquisition, conversion) are not scored:
"no reference yet", never a 50 drawn as if measured. What a person reads of each score (the table and the
chart alike) is :func:`shown`'s, so the two agree to the digit.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from storelens.books.schema import acks, events, transactions
from storelens.clock import iso
from storelens.i18n import FONT_FAMILIES, N_, Translator
from storelens.web.reports import figure_png, parse_ts

AXES = ("acquisition", "conversion", "service", "retention", "member_value")
TAKE_WITHIN_SECONDS = 60.0
VISITS_PER_MONTH_FULL = 4.0


@dataclass(frozen=True)
class Measures:
    """What the radar is computed from, for one store and period."""

    entries: int
    new_visitors: int
    returning_visitors: int
    transactions: int
    sales: float
    member_sales: float
    vip_arrivals: int
    vip_taken: int
    median_take_seconds: float | None
    arriving_members: int
    days: float


def _ratio(value: float, reference: float | None) -> float | None:
    return None if not reference else value / reference


def _cap(score: float | None) -> float | None:
    return None if score is None else round(max(0.0, min(100.0, score)), 1)


def unreferenced(m: Measures, ref: Measures | None) -> list[str]:
    """The relative axes that ``m`` has data for and its reference has none: "no reference yet", not a score."""
    pairs = [(m.entries, ref.entries if ref else None), (m.new_visitors, ref.new_visitors if ref else None)]
    out = []
    if m.entries and not any(_ratio(v, r) is not None for v, r in pairs):
        out.append("acquisition")
    if m.entries and not (ref and ref.entries and ref.transactions):
        out.append("conversion")
    return out


def scores(m: Measures, ref: Measures | None) -> dict[str, float | None]:
    """The five scores of ``m`` against the reference ``ref`` (None: no data, or no reference for a relative one)."""
    pairs = [(m.entries, ref.entries if ref else None), (m.new_visitors, ref.new_visitors if ref else None)]
    ratios = [r for r in (_ratio(value, reference) for value, reference in pairs) if r is not None]
    acquisition = 50 * statistics.mean(ratios) if ratios else None
    conv = m.transactions / m.entries if m.entries else None
    conv_ref = ref.transactions / ref.entries if ref and ref.entries and ref.transactions else None
    conversion = 50 * conv / conv_ref if conv is not None and conv_ref else None
    service = None
    if m.vip_arrivals:
        speed = min(1.0, TAKE_WITHIN_SECONDS / m.median_take_seconds) if m.median_take_seconds else 0.0
        service = 100 * (m.vip_taken / m.vip_arrivals) * (speed if m.vip_taken else 0.0)
    seen = m.new_visitors + m.returning_visitors
    retention = None
    if seen or m.arriving_members:
        share = m.returning_visitors / seen if seen else 0.0
        per_month = m.vip_arrivals / m.arriving_members / (m.days / 30) if m.arriving_members and m.days else 0.0
        retention = 50 * share + 50 * min(1.0, per_month / VISITS_PER_MONTH_FULL)
    member_value = 100 * m.member_sales / m.sales if m.sales else None
    return {
        "acquisition": _cap(acquisition),
        "conversion": _cap(conversion),
        "service": _cap(service),
        "retention": _cap(retention),
        "member_value": _cap(member_value),
    }


def measure(conn: Any, store_id: str, start: datetime, end: datetime, currency: str) -> Measures:
    """The measures of ``store_id`` in [start, end) from the event database."""
    a, b = iso(start), iso(end)
    in_period = (events.c.store_id == store_id, events.c.ts >= a, events.c.ts < b)
    entries = new = returning = 0
    for (payload,) in conn.execute(select(events.c.payload).where(events.c.type == "footfall", *in_period)):
        entries += int(json.loads(payload)["entries"])
    for (payload,) in conn.execute(select(events.c.payload).where(events.c.type == "visitor", *in_period)):
        visit = json.loads(payload)  # parsed once per event
        if visit.get("entered"):
            returning, new = (returning + 1, new) if visit.get("returning") else (returning, new + 1)
    arrivals = conn.execute(
        select(events.c.ts, events.c.member_id, acks.c.at)
        .outerjoin(acks, acks.c.event_id == events.c.event_id)
        .where(events.c.type == "vip_arrival", *in_period)
    ).all()
    waits = [(parse_ts(at) - parse_ts(ts)).total_seconds() for ts, _, at in arrivals if at]
    t_count, sales, member_sales = conn.execute(
        select(
            func.count(),
            func.sum(transactions.c.amount_minor).filter(transactions.c.currency == currency),
            func.sum(transactions.c.amount_minor).filter(
                transactions.c.currency == currency, transactions.c.member_id.is_not(None)
            ),
        ).where(transactions.c.store_id == store_id, transactions.c.ts >= a, transactions.c.ts < b)
    ).one()
    return Measures(
        entries=entries,
        new_visitors=new,
        returning_visitors=returning,
        transactions=int(t_count),
        sales=int(sales or 0) / 100,  # PostgreSQL sums integers as numeric (Decimal)
        member_sales=int(member_sales or 0) / 100,
        vip_arrivals=len(arrivals),
        vip_taken=len(waits),
        median_take_seconds=statistics.median(waits) if waits else None,
        arriving_members=len({m for _, m, _ in arrivals if m}),
        days=(end - start).total_seconds() / 86400,
    )


def mean_measures(items: list[Measures]) -> Measures | None:
    """The mean of several periods' measures (a store's baseline), or None when there is none with data."""
    items = [m for m in items if m.entries or m.transactions or m.vip_arrivals]
    return _combine(items, statistics.mean)


def median_measures(items: list[Measures]) -> Measures | None:
    """The chain's median store: each measure's median over the stores."""
    return _combine(items, statistics.median)


def _combine(items: list[Measures], how: Callable[[list[float]], float]) -> Measures | None:
    if not items:
        return None
    values: dict[str, Any] = {}
    for name in Measures.__dataclass_fields__:
        column = [getattr(m, name) for m in items if getattr(m, name) is not None]
        values[name] = how(column) if column else None
    return Measures(**values)


def report(measures: Measures, reference: Measures | None, basis: str) -> dict[str, Any]:
    """The JSON the API and ``report health`` give: scores, measures, the reference and its basis."""
    return {
        "scores": scores(measures, reference),
        "no_reference": unreferenced(measures, reference),
        "measures": asdict(measures),
        "reference": asdict(reference) if reference else None,
        "reference_scores": scores(reference, reference) if reference else None,
        "basis": basis,
    }


def shown(tr: Translator, result: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What a person reads of each score, the table and the chart alike.

    One decimal in the reader's locale, or why there is none ("no reference yet", "no data").
    """

    def word(score: float | None, axis: str, fresh: bool) -> str:
        if score is not None:
            return tr.number(score, 1)
        return (
            tr.gettext("no reference yet")
            if fresh and axis in result.get("no_reference", [])
            else tr.gettext("no data")
        )

    ref = result.get("reference_scores") or {}
    return {
        "scores": {a: word(result["scores"][a], a, True) for a in AXES},
        "reference": {a: word(ref.get(a), a, False) for a in AXES},
    }


AXIS_WORDS = {
    "acquisition": N_("acquisition"),
    "conversion": N_("conversion"),
    "service": N_("service"),
    "retention": N_("retention"),
    "member_value": N_("member value"),
}


def radar_title(tr: Translator, store: str, start: datetime, end: datetime) -> str:
    """The radar's title, the same from the CLI and the API: the store and the days it covers."""
    return tr.gettext("Store health, {store}, {period}", store=store, period=tr.days(start, end))


def reference_note(tr: Translator, result: dict[str, Any]) -> str:
    """What the dashed polygon is, and why an axis has none: said under the radar and on the console."""
    ref = result.get("reference_scores")
    if not ref or all(v is None for v in ref.values()):
        text = tr.gettext(
            "No reference yet: the four previous periods of the same length have no data (a new store), so "
            "acquisition and conversion are not scored."
        )
    else:
        missing = [tr.gettext(AXIS_WORDS[a]) for a in AXES if ref.get(a) is None]
        text = tr.gettext(
            "Dashed: the reference ({basis}); 50 on acquisition and conversion means as good as the reference.",
            basis=_basis_words(tr, result["basis"]),
        )
        if missing:
            text += " " + tr.gettext(
                "No reference for {axes}: the reference periods have no data for it.", axes=", ".join(missing)
            )
    m = result.get("measures") or {}
    if m.get("vip_arrivals") and not m.get("vip_taken"):  # a measured 0, said why
        text += " " + tr.gettext(
            "Service is 0: none of the {count} VIP arrivals was taken on an iPad.", count=tr.number(m["vip_arrivals"])
        )
    return text


def _basis_words(tr: Translator, basis: str) -> str:
    if basis.startswith("own baseline"):
        return tr.gettext("the mean of the four previous periods")
    stores = basis.rsplit(" of ", 1)[-1].split()[0] if " of " in basis else "?"
    return tr.gettext("the chain's median store of {stores} stores", stores=stores)


def radar_png(result: dict[str, Any], title: str, tr: Translator | None = None) -> bytes:
    """The five scores as a radar chart (PNG): :func:`radar_figure`'s."""
    return figure_png(radar_figure(result, title, tr))


def radar_figure(result: dict[str, Any], title: str, tr: Translator | None = None) -> Any:
    """The five scores as a radar chart (a matplotlib figure), the reference dashed where it has data.

    A note under it says what the reference is and where it has none; each axis's label is :func:`shown`'s.
    """
    import math
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = tr or Translator()
    angles = [2 * math.pi * i / len(AXES) for i in range(len(AXES))]
    with plt.rc_context({"font.family": FONT_FAMILIES}):
        fig = plt.figure(figsize=(7, 7.4), dpi=100)
        ax: Any = fig.add_axes((0.17, 0.2, 0.66, 0.62), projection="polar")  # room for labels on every side
        ax.set_theta_offset(math.pi / 2)  # acquisition at the top, then clockwise
        ax.set_theta_direction(-1)
        ref = result.get("reference_scores")
        if ref and any(v is not None for v in ref.values()):  # a gap (NaN) where it has no data, never a false 0
            values = [float("nan") if ref[a] is None else ref[a] for a in AXES]
            ax.plot([*angles, angles[0]], [*values, values[0]], color="#666666", linestyle="--",
                    label=tr.gettext("reference"))  # fmt: skip
        # an axis without a score is a gap in the line, and the filled area joins only the scored ones
        values = [float("nan") if result["scores"][a] is None else result["scores"][a] for a in AXES]
        ax.plot(
            [*angles, angles[0]], [*values, values[0]], color="#2f6fb0", linewidth=2, label=tr.gettext("this period")
        )
        scored = [(t, v) for t, v in zip(angles, values, strict=True) if not math.isnan(v)]
        if len(scored) >= 3:
            ax.fill([t for t, _ in scored], [v for _, v in scored], color="#2f6fb0", alpha=0.25)
        words = shown(tr, result)["scores"]
        ticks = [tr.gettext(AXIS_WORDS[a]) + "\n" + words[a] for a in AXES]
        ax.set_xticks(angles, ticks, fontsize=10)
        ax.tick_params(axis="x", pad=14)
        ax.set_ylim(0, 100)
        ax.set_yticks([25, 50, 75, 100], ["25", "50", "75", "100"], fontsize=8, color="#666666")
        fig.suptitle(title, fontsize=12, y=0.97)
        fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.93), ncol=2, fontsize=9, frameon=False)
        wide = any("\u4e00" <= ch <= "\u9fff" for ch in title)  # Chinese: half the characters to a line
        note = textwrap.fill(reference_note(tr, result), 45 if wide else 90)
        fig.text(0.5, 0.04, note, ha="center", va="bottom", fontsize=9, color="#444444")
    return fig


BASELINE_PERIODS = 4


def store_health(conn: Any, store_id: str, start: datetime, end: datetime, currency: str) -> dict[str, Any]:
    """The radar of ``store_id`` in [start, end).

    Against the chain's median store when several stores' data are present (head office), else against
    the store's own four previous periods.
    """
    stores = sorted(
        s
        for (s,) in conn.execute(
            select(events.c.store_id)
            .where(events.c.type == "footfall", events.c.ts >= iso(start), events.c.ts < iso(end))
            .distinct()
        )
    )
    this = measure(conn, store_id, start, end, currency)
    if len(stores) > 1:
        chain = [measure(conn, s, start, end, currency) for s in stores]
        return report(this, median_measures(chain), f"chain median of {len(stores)} stores")
    length = end - start
    earlier = [
        measure(conn, store_id, start - k * length, end - k * length, currency) for k in range(1, BASELINE_PERIODS + 1)
    ]
    return report(this, mean_measures(earlier), f"own baseline ({BASELINE_PERIODS} previous periods)")
