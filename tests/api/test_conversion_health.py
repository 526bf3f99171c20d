"""Conversion in the footfall reports and the store health radar, on a constructed store (hand-computed)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from storelens.api.radar import AXES, AXIS_WORDS, reference_note, scores, store_health
from storelens.books.schema import acks
from storelens.clock import iso
from storelens.edge_events import ArrivalEvent, FootfallEvent, VisitorEvent
from storelens.web.reports import footfall_rows, to_csv

DAY = datetime(2026, 11, 21, tzinfo=UTC)


def footfall(store_id: str, start: datetime, entries: int, minutes: int = 15) -> dict:
    return FootfallEvent(store_id=store_id, camera_id="door", interval_start=iso(start),
                         interval_end=iso(start + timedelta(minutes=minutes)), entries=entries, unique_visitors=0,
                         vip_arrivals=0).model_dump()  # fmt: skip


def receipts(store, rows: list[tuple[str, datetime, str, str, str | None]], store_id: str = "s1") -> None:
    text = "".join(json.dumps({"transaction_id": txn, "store_id": store_id, "time": when.isoformat(), "amount": amount,
                               "currency": cur, "member_id": member,
                               "lines": [{"sku": "X", "category": "tops", "quantity": 1, "price": amount}]}) + "\n"
                   for txn, when, amount, cur, member in rows)  # fmt: skip
    assert store.commerce.import_file("transactions", io.BytesIO(text.encode()), "t.jsonl").imported


def test_conversion_is_transactions_over_entries(store) -> None:
    for minute, entries in ((0, 10), (15, 5), (60, 4)):
        store.events.add(footfall("s1", DAY + timedelta(hours=10, minutes=minute), entries))
    at = DAY + timedelta(hours=10, minutes=20)
    receipts(store, [("T1", at, "100.00", "EUR", "M1"), ("T2", at, "50.00", "EUR", "M2"),
                     ("T3", at, "30.00", "EUR", None),
                     ("T4", DAY + timedelta(hours=11, minutes=5), "20.00", "EUR", None),
                     ("T5", DAY + timedelta(hours=11, minutes=10), "999.00", "USD", "M1")])  # fmt: skip
    start, end = iso(DAY), iso(DAY + timedelta(days=1))
    rows = footfall_rows(store.events.footfall(start, end), "1h", "UTC", store.commerce.sales(start, end), "EUR")
    got = [(r.entries, r.transactions, r.conversion, r.sales, r.average_basket, r.member_sales_share) for r in rows]
    assert got == [(15, 3, 0.2, 180.0, 60.0, 0.8333), (4, 2, 0.5, 20.0, 20.0, 0.0)]
    table = list(csv.DictReader(io.StringIO(to_csv(rows).decode())))
    assert [(r["transactions"], r["conversion"]) for r in table] == [("3", "0.2"), ("2", "0.5")]
    assert [r.other_sales for r in rows] == ["", "USD 999.00"]  # counted, and summed in its own currency


def arrival(store, at: datetime, member: str, taken_after: float | None) -> None:
    ev = ArrivalEvent(store_id="s1", camera_id="door", member_id=member, similarity=0.8, track_id=1, ts=iso(at))
    store.events.add(ev.model_dump())
    if taken_after is not None:
        with store.engine.begin() as conn:
            conn.execute(insert(acks).values(event_id=ev.event_id, taken_by="ipad",
                                             at=iso(at + timedelta(seconds=taken_after))))  # fmt: skip


def visitor(store, at: datetime, returning: bool, n: int) -> None:
    for i in range(n):
        store.events.add(VisitorEvent(store_id="s1", camera_id="door", anon_id=f"anon-{returning}-{i}", track_id=i,
                               returning=returning, entered=True, ts=iso(at)).model_dump())  # fmt: skip


def test_the_five_scores_match_hand_computed_values(store) -> None:
    noon = DAY + timedelta(hours=12)
    store.events.add(footfall("s1", noon, 100))
    visitor(store, noon, returning=False, n=30)
    visitor(store, noon, returning=True, n=10)
    for i, (member, taken) in enumerate([("M1", 30), ("M1", 60), ("M1", 120), ("M2", None)]):
        arrival(store, noon + timedelta(minutes=i * 40), member, taken)
    rows = [(f"T{i}", noon, "100.00", "EUR", "M1" if i < 5 else None) for i in range(20)]  # 2000 EUR, 500 by members
    for k in range(1, 5):  # the four days before: 50 entries, 15 new visitors, 8 transactions each
        day = noon - timedelta(days=k)
        store.events.add(footfall("s1", day, 50))
        visitor(store, day, returning=False, n=15)
        rows += [(f"B{k}-{i}", day, "10.00", "EUR", None) for i in range(8)]
    receipts(store, rows)
    with store.engine.connect() as conn:
        result = store_health(conn, "s1", DAY, DAY + timedelta(days=1), "EUR")
    assert result["basis"] == "own baseline (4 previous periods)"
    # acquisition 50 x mean(100/50, 30/15) = 100; conversion 50 x (20/100)/(8/50) = 62.5;
    # service 100 x 3/4 x min(1, 60/60) = 75; retention 50 x 10/40 + 50 x min(1, (4/2)/(1/30)/4) = 62.5;
    # member value 100 x 500/2000 = 25
    assert result["scores"] == {"acquisition": 100.0, "conversion": 62.5, "service": 75.0, "retention": 62.5,
                                "member_value": 25.0}  # fmt: skip
    assert result["measures"]["median_take_seconds"] == 60


def test_at_head_office_each_store_is_scored_against_the_chain_median(store) -> None:
    for store_id, entries in (("s1", 100), ("s2", 50), ("s3", 200)):
        store.events.add(footfall(store_id, DAY + timedelta(hours=12), entries))
    with store.engine.connect() as conn:
        result = store_health(conn, "s1", DAY, DAY + timedelta(days=1), "EUR")
    assert result["basis"] == "chain median of 3 stores" and result["reference"]["entries"] == 100
    assert result["scores"]["acquisition"] == 50.0  # the median store: 50


def test_without_a_reference_the_relative_scores_say_so_and_the_chart_draws_what_the_table_shows() -> None:
    """A new store: acquisition and conversion are "no reference yet" (never a 50 as if measured); a measured 0
    of service is explained; the chart's labels are the table's words to the digit."""
    from storelens.api.radar import Measures, radar_figure, report, shown
    from storelens.i18n import Translator

    m = Measures(entries=120, new_visitors=40, returning_visitors=8, transactions=9, sales=900, member_sales=227.0,
                 vip_arrivals=3, vip_taken=0, median_take_seconds=None, arriving_members=2, days=7)  # fmt: skip
    result = report(m, None, "own baseline (4 previous periods)")
    assert result["scores"]["acquisition"] is None and result["scores"]["conversion"] is None
    assert result["no_reference"] == ["acquisition", "conversion"]
    assert (result["scores"]["service"], result["scores"]["member_value"]) == (0.0, 25.2)
    for lang, words in (("en_GB", ("no reference yet", "25.2", "0.0")), ("fr_FR", ("pas encore de référence", "25,2"))):
        tr = Translator(lang)
        table = shown(tr, result)["scores"]
        assert [table[a] for a in ("acquisition", "member_value")] == list(words[:2])
        fig = radar_figure(result, "Store health", tr)
        labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        assert labels == [f"{tr.gettext(AXIS_WORDS[a])}\n{table[a]}" for a in AXES]  # the chart says the table
        assert [t.get_text() for t in fig.legends[0].get_texts()] == [tr.gettext("this period")]  # no dashed line
    note = reference_note(Translator(), result)
    assert "Service is 0: none of the 3 VIP arrivals was taken on an iPad." in note


@pytest.mark.parametrize("empty", ["service", "member_value"])
def test_a_score_without_data_is_none_not_zero(empty) -> None:
    from storelens.api.radar import Measures

    m = Measures(entries=10, new_visitors=5, returning_visitors=0, transactions=0, sales=0, member_sales=0,
                 vip_arrivals=0, vip_taken=0, median_take_seconds=None, arriving_members=0, days=1)  # fmt: skip
    assert scores(m, None)[empty] is None


def test_report_health_cli_writes_json_and_a_radar(tmp_path) -> None:
    from storelens.api.books import StoreBooks
    from tests.helpers.cli import run_cli
    from tests.helpers.configs import write_toml

    url = f"sqlite:///{tmp_path / 'ev.sqlite'}"
    s = StoreBooks(url)
    s.events.add(footfall("s1", DAY + timedelta(hours=12), 40))
    s.close()
    cfg = write_toml(tmp_path / "c.toml", {"store": {"id": "s1"}, "cameras": [{"id": "door", "source": "0"}],
                                           "api": {"database_url": url}})  # fmt: skip
    done = run_cli("report", "health", "--config", str(cfg), "--from", "2026-11-21", "--to", "2026-11-22",
                   "--chart", str(tmp_path / "radar.png"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["measures"]["entries"] == 40
    assert (tmp_path / "radar.png").read_bytes().startswith(b"\x89PNG")
    bad = run_cli("report", "health", "--config", str(cfg), "--from", "2026-11-22", "--to", "2026-11-21")
    assert bad.returncode == 2 and "--to must be after --from" in bad.stderr


def test_the_chart_draws_conversion_when_the_store_sold(store) -> None:
    import cv2
    import numpy as np

    from storelens.web.reports import chart_png

    store.events.add(footfall("s1", DAY + timedelta(hours=10), 10))
    receipts(store, [("T1", DAY + timedelta(hours=10, minutes=5), "10.00", "EUR", None)])
    start, end = iso(DAY), iso(DAY + timedelta(days=1))
    rows = footfall_rows(store.events.footfall(start, end), "1h", "UTC", store.commerce.sales(start, end), "EUR")
    without = footfall_rows(store.events.footfall(start, end), "1h", "UTC")
    images = [cv2.imdecode(np.frombuffer(chart_png(r, "t"), np.uint8), cv2.IMREAD_COLOR) for r in (rows, without)]
    gold = [int(((abs(im[:, :, 0].astype(int) - 0x1F) < 40) & (abs(im[:, :, 2].astype(int) - 0xB7) < 40)).sum())
            for im in images]  # fmt: skip
    assert gold[0] > 20 and gold[1] == 0  # the conversion marker is drawn only with sales


def gold_height(png: bytes) -> float:
    """The top row of the conversion line's gold pixels (smaller: higher; the legend's is under the axis)."""
    import cv2
    import numpy as np

    im = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    gold = (abs(im[:, :, 0].astype(int) - 0x1F) < 40) & (abs(im[:, :, 2].astype(int) - 0xB7) < 40)
    return float(np.flatnonzero(gold.any(axis=1)).min())


def test_a_week_is_seven_bars_and_hours_across_days_carry_their_date(store) -> None:
    """Counts on one day of seven: the 7-day chart still has 7 bars (zero days included), and an hourly chart
    over two days labels each bar with its date; sales in an hour no camera counted are in the report too."""
    from zoneinfo import ZoneInfo

    from storelens.i18n import Translator
    from storelens.web.reports import chart_figure, local_span

    tr = Translator("fr_FR", ZoneInfo("Europe/Paris"))
    store.events.add(footfall("s1", DAY + timedelta(hours=10), 6, minutes=60))
    receipts(store, [("T-late", DAY + timedelta(hours=20), "10.00", "EUR", None)])  # no camera counted at 21:00
    a, b = DAY - timedelta(days=6, hours=1), DAY + timedelta(hours=23)  # Paris midnights, seven days
    rows = footfall_rows(store.events.footfall(iso(a), iso(b)), "1d", "Europe/Paris",
                         store.commerce.sales(iso(a), iso(b)), "EUR")  # fmt: skip
    assert [(r.entries, r.transactions) for r in rows] == [(6, 1)]  # the evening's sale in the day's row
    hourly = footfall_rows(store.events.footfall(iso(a), iso(b)), "1h", "Europe/Paris",
                           store.commerce.sales(iso(a), iso(b)), "EUR")  # fmt: skip
    assert [(r.local_start[11:16], r.entries, r.transactions) for r in hourly] == [("11:00", 6, 0), ("21:00", 0, 1)]
    week = chart_figure(rows, "semaine", tr, local_span(a, b, "Europe/Paris"), "1d")
    labels = [t.get_text() for t in week.axes[0].get_xticklabels()]
    assert len(week.axes[0].patches) == 7 and labels[0] == tr.day((DAY - timedelta(days=6)).date()), labels
    two_days = chart_figure(hourly, "heures", tr, local_span(b - timedelta(days=2), b, "Europe/Paris"), "1h")
    ticks = [t.get_text() for t in two_days.axes[0].get_xticklabels()]
    assert len(two_days.axes[0].patches) == 48 and all("\n" in t for t in ticks), ticks  # a date on each label


def test_conversion_is_drawn_on_one_fixed_scale_with_a_legend_and_local_labels(store, tmp_path) -> None:
    """16.7 % and 83 % are drawn at their own heights (the axis is 0-100 % in every chart, not rescaled), the
    legend names the line, and the title and labels are the store's own words and days."""
    from zoneinfo import ZoneInfo

    from storelens.i18n import Translator
    from storelens.web.reports import chart_png, footfall_title

    tr = Translator("fr_FR", ZoneInfo("Europe/Paris"))
    heights = []
    for store_id, sold in (("low", 1), ("high", 5)):
        store.events.add(footfall(store_id, DAY + timedelta(hours=10), 6, minutes=60))
        receipts(store, [(f"{store_id}-{i}", DAY + timedelta(hours=10, minutes=i), "10.00", "EUR", None)
                         for i in range(sold)], store_id=store_id)  # fmt: skip
        start, end = iso(DAY), iso(DAY + timedelta(days=1))
        rows = footfall_rows(store.events.footfall(start, end, store_id), "1h", "Europe/Paris",
                             store.commerce.sales(start, end, store_id), "EUR")  # fmt: skip
        assert rows[0].conversion == round(sold / 6, 4)
        title = footfall_title(tr, "1h", DAY - timedelta(hours=1), DAY + timedelta(hours=23), "Rivoli")
        png = chart_png(rows, title, tr)
        (tmp_path / f"{store_id}.png").write_bytes(png)
        heights.append(gold_height(png))
    assert title == "Entrées par heure, Rivoli, 21 novembre 2026"  # one day, not "to the 22nd"
    low, high = heights
    # 83 % is drawn about 5x as high above the axis as 16.7 %: the plot area spans ~300 px for 0-100 %
    assert low - high > 150, heights


# reference scores (None: no reference at all), words the note must hold
NOTE_CASES = [
    (None, ["No reference yet", "not scored"]),
    ({"acquisition": 50, "conversion": None, "service": 80, "retention": 40, "member_value": None},
     ["Dashed: the reference (the mean of the four previous periods)", "No reference for conversion, member value"]),
    ({"acquisition": 50, "conversion": 50, "service": 80, "retention": 40, "member_value": 30},
     ["Dashed: the reference"]),
]  # fmt: skip


@pytest.mark.parametrize(("reference", "words"), NOTE_CASES)
def test_the_radar_says_what_its_reference_is_and_where_it_has_none(reference, words, tmp_path) -> None:
    from storelens.api.radar import radar_png, reference_note
    from storelens.i18n import Translator

    result = {"scores": {"acquisition": 62, "conversion": 40, "service": None, "retention": 55, "member_value": 70},
              "reference_scores": reference, "basis": "own baseline (4 previous periods)"}  # fmt: skip
    note = reference_note(Translator(), result)
    for phrase in words:
        assert phrase in note, note
    if reference and all(v is not None for v in reference.values()):
        assert "No reference" not in note
    png = radar_png(result, "Store health, Rivoli, 21 November 2026", Translator("fr_FR"))
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    ink = image < 200
    assert not ink[:, :4].any() and not ink[:, -4:].any() and not ink[:4].any()  # no label touches an edge
