"""``/api/v1/today``: the iPad's totals agree with the daily report (one person seen twice counts once)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from storelens.api.app import create_app
from storelens.api.services import Services
from storelens.books.token_book import new_token
from storelens.clock import iso, utc_now
from storelens.config import default_config
from storelens.edge_events import FootfallEvent
from storelens.web.reports import footfall_rows, store_day


def hour_of_today(hour: int, entries: int, tokens: tuple[str, ...]) -> dict:
    _, start, _ = store_day("UTC", utc_now())
    at = start + timedelta(hours=hour)
    return FootfallEvent(store_id="demo-store", camera_id="entrance", interval_start=iso(at),
                         interval_end=iso(at + timedelta(minutes=15)), entries=entries, unique_visitors=len(tokens),
                         vip_arrivals=0, visitor_tokens=tokens).model_dump()  # fmt: skip


@pytest.mark.parametrize(
    ("hours", "unique"),
    [
        ([(10, 1, ("anon-a",)), (16, 1, ("anon-a",))], 1),  # one person, morning and afternoon: one visitor
        ([(10, 2, ("anon-a", "anon-b")), (16, 1, ("anon-b",))], 2),
        ([(9, 1, ("anon-a",)), (9, 1, ("anon-c",)), (17, 2, ("anon-a", "anon-c"))], 2),
    ],
)
def test_unique_visitors_of_the_day_are_not_summed_per_hour(store, hours, unique: int) -> None:
    for hour, entries, tokens in hours:
        store.events.add(hour_of_today(hour, entries, tokens))
    token = new_token()
    store.tokens.add_token(token, "ipad", "associate")
    client = TestClient(create_app(Services(default_config(), store)))
    today = client.get("/api/v1/today", headers={"Authorization": f"Bearer {token}"}).json()
    _, start, end = store_day("UTC", utc_now())
    daily = footfall_rows(store.events.footfall(iso(start), iso(end), "demo-store"), "1d", "UTC")
    assert today["unique_visitors"] == unique == daily[0].unique_visitors
    assert today["entries"] == sum(h[1] for h in hours)


def counted_hour(hour: int, entries: int, available: bool) -> dict:
    _, start, _ = store_day("UTC", utc_now())
    at = start + timedelta(hours=hour)
    return FootfallEvent(store_id="demo-store", camera_id="entrance", interval_start=iso(at),
                         interval_end=iso(at + timedelta(minutes=15)), entries=entries, vip_arrivals=0,
                         unique_visitors=entries if available else 0, visitor_tokens=(),
                         unique_visitors_available=available).model_dump()  # fmt: skip


@pytest.mark.parametrize(
    ("hours", "unique", "cells"),
    [
        ([(10, 3, False), (11, 2, False)], None, ["unavailable", "unavailable"]),  # eu / count-only: never a 0
        ([(10, 3, True), (11, 2, False)], None, ["3", "unavailable"]),  # a day with any uncounted interval
        ([(10, 3, True), (11, 2, True)], 5, ["3", "2"]),
    ],
)
def test_unique_visitors_unavailable_are_said_so(store, hours, unique, cells) -> None:
    import csv
    import io

    from openpyxl import load_workbook

    from storelens.web.reports import to_csv, to_json, to_xlsx

    for hour, entries, available in hours:
        store.events.add(counted_hour(hour, entries, available))
    token = new_token()
    store.tokens.add_token(token, "ipad", "associate")
    client = TestClient(create_app(Services(default_config(), store)))
    today = client.get("/api/v1/today", headers={"Authorization": f"Bearer {token}"}).json()
    assert today["unique_visitors"] == unique and today["entries"] == sum(h[1] for h in hours)
    _, start, end = store_day("UTC", utc_now())
    hourly = footfall_rows(store.events.footfall(iso(start), iso(end), "demo-store"), "1h", "UTC")
    assert [row["unique_visitors"] for row in csv.DictReader(io.StringIO(to_csv(hourly).decode()))] == cells
    sheet = load_workbook(io.BytesIO(to_xlsx(hourly))).active
    column = [c.value for c in sheet[1]].index("unique_visitors")
    assert [str(r[column]) for r in sheet.iter_rows(min_row=2, values_only=True)] == cells
    assert [r["unique_visitors"] for r in json.loads(to_json(hourly))] == [
        None if c == "unavailable" else int(c) for c in cells
    ]


@pytest.mark.parametrize(("hours", "counted_to"), [([], None), ([10], "10:15"), ([9, 11, 10], "11:15")])
def test_today_says_to_when_entries_are_counted(store, hours: list[int], counted_to: str | None) -> None:
    """Entries come when an interval closes and arrivals at once: the page shows how far entries are counted."""
    for hour in hours:
        store.events.add(counted_hour(hour, 2, True))
    token = new_token()
    store.tokens.add_token(token, "ipad", "associate")
    client = TestClient(create_app(Services(default_config(), store)))
    today = client.get("/api/v1/today", headers={"Authorization": f"Bearer {token}"}).json()
    assert (today["counted_to"] and today["counted_to"][11:16]) == counted_to
