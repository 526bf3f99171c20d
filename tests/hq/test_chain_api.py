"""The chain API: store-local days per store, region and chain; ranking; arrivals; boxes; roles (SQLite and
PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from storelens.api.books import StoreBooks
from storelens.books.token_book import new_token
from storelens.clock import iso, utc_now
from storelens.config import HqConfig
from storelens.edge_events import ArrivalEvent, FootfallEvent, StatusEvent
from storelens.hq.access import HqServices
from storelens.hq.chain_reports import ChainReports
from storelens.hq.registry import ChainMembers, record_status
from storelens.hq.schema import chain_tables
from storelens.hq.web import create_hq_app

DAY = (utc_now() - timedelta(days=2)).date()
STORES = [
    {"id": "paris", "name": "Paris Opera", "region": "FR", "timezone": "Europe/Paris"},
    {"id": "lyon", "name": "Lyon", "region": "FR", "timezone": "Europe/Paris"},
    {"id": "ny", "name": "New York 5th", "region": "US", "timezone": "America/New_York"},
    {"id": "tokyo", "name": "Ginza", "region": "JP", "timezone": "Asia/Tokyo"},
]
# (store, UTC hour:minute on DAY, entries): which store-local day each falls on is the point
FOOTFALL = [
    ("paris", (23, 30), 5),  # Paris: 00:30 the next day
    ("paris", (10, 0), 10),
    ("lyon", (12, 0), 20),
    ("ny", (23, 30), 7),  # New York: 18:30 the same day
    ("ny", (3, 0), 4),  # New York: 22:00 the day before
    ("tokyo", (14, 30), 6),  # Tokyo: 23:30 the same day
    ("tokyo", (15, 0), 3),  # Tokyo: 00:00 the next day
]


def at(hm: tuple[int, int]) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, *hm, tzinfo=UTC)


@pytest.fixture
def client(store: StoreBooks):
    if store.engine.dialect.name == "postgresql":
        chain_tables.create_all(store.engine)
        with store.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(t.name for t in chain_tables.sorted_tables)} RESTART IDENTITY"))
    for store_id, hm, entries in FOOTFALL:
        start = at(hm)
        store.events.add(FootfallEvent(store_id=store_id, camera_id="door", interval_start=iso(start),
                                interval_end=iso(start + timedelta(minutes=15)), entries=entries,
                                unique_visitors=0, vip_arrivals=0).model_dump())  # fmt: skip
    for member in ("M-1", "M-1", "M-2"):
        store.events.add(ArrivalEvent(store_id="ny", camera_id="door", member_id=member, similarity=0.8, track_id=1,
                               ts=iso(at((15, 0)))).model_dump())  # fmt: skip
    config = HqConfig.model_validate({"stores": STORES})
    members = ChainMembers(store.engine)
    record_status(store.engine, StatusEvent(store_id="ny", camera_id="door", state="online", fps=12.5))
    reports = ChainReports(store.events, {s.id: s for s in config.stores}, "EUR")
    tokens = {role: new_token() for role in ("analyst", "admin")}
    for role, token in tokens.items():
        store.tokens.add_token(token, f"{role}-1", role)
    app = create_hq_app(HqServices(config, store.events, store.tokens, members, reports, threading.Event()))
    with TestClient(app) as c:
        c.tokens = tokens  # type: ignore[attr-defined]
        yield c


def get(c: TestClient, path: str, role: str = "analyst", **params: str) -> object:
    return c.get(path, params=params, headers={"Authorization": f"Bearer {c.tokens[role]}"})  # type: ignore[attr-defined]


PERIOD = {"from": str(DAY), "to": str(DAY + timedelta(days=1)), "interval": "1d"}


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("store", {"paris": 10, "lyon": 20, "ny": 7, "tokyo": 6}),  # each store's own day
        ("region", {"region:FR": 30, "region:US": 7, "region:JP": 6}),
        ("chain", {"chain": 43}),
    ],
)
def test_footfall_on_store_local_days(client, level: str, expected: dict[str, int]) -> None:
    r = get(client, "/api/v1/chain/footfall", level=level, **PERIOD)
    assert r.status_code == 200, r.text
    got = {row["store_id"]: row["entries"] for row in r.json()}
    assert got == expected
    assert {row["local_start"][:10] for row in r.json()} == {str(DAY)}


@pytest.mark.parametrize(("store_id", "interval"), [("ny", "1d"), ("tokyo", "15m"), ("paris", "1h"), ("nowhere", "1d")])
def test_one_store_s_rows_are_its_rows_of_the_whole_report(client, store_id: str, interval: str) -> None:
    every = get(client, "/api/v1/chain/footfall", **{**PERIOD, "interval": interval}).json()
    mine = get(client, "/api/v1/chain/footfall", store=store_id, **{**PERIOD, "interval": interval})
    assert mine.status_code == 200, mine.text
    assert mine.json() == [r for r in every if r["store_id"] == store_id]
    assert get(client, "/api/v1/chain/footfall", store="../etc", **PERIOD).status_code == 422


def test_footfall_exports_csv_and_xlsx_and_a_chart(client) -> None:
    r = get(client, "/api/v1/chain/footfall", level="region", format="csv", **PERIOD)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["store_id"]: int(row["entries"]) for row in rows} == {"region:FR": 30, "region:US": 7, "region:JP": 6}
    x = get(client, "/api/v1/chain/footfall", format="xlsx", **PERIOD)
    assert x.status_code == 200 and x.content[:2] == b"PK"
    png = get(client, "/api/v1/chain/footfall/chart.png", **PERIOD)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_ranking_arrivals_and_boxes(client) -> None:
    ranked = get(client, "/api/v1/chain/ranking", **{k: v for k, v in PERIOD.items() if k != "interval"}).json()
    assert [(r["rank"], r["store_id"], r["entries"], r["region"]) for r in ranked] == [
        (1, "lyon", 20, "FR"), (2, "paris", 10, "FR"), (3, "ny", 7, "US"), (4, "tokyo", 6, "JP")]  # fmt: skip
    arrivals = get(client, "/api/v1/chain/arrivals", **{"from": str(DAY), "to": str(DAY + timedelta(days=1))})
    assert arrivals.json() == [{"store_id": "ny", "region": "US", "arrivals": 3, "members": 2}]
    assert "M-1" not in arrivals.text  # an analyst sees counts, never who
    [box] = get(client, "/api/v1/chain/boxes").json()
    assert (box["store_id"], box["state"], box["fps"]) == ("ny", "online", 12.5) and box["software"]


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/api/v1/chain/footfall", None, 401),
        ("/api/v1/chain/footfall", "bogus", 401),
        ("/api/v1/chain/members", "analyst", 403),
        ("/api/v1/chain/erasures", "analyst", 403),
        ("/api/v1/chain/members", "admin", 200),
        ("/api/v1/chain/erasures", "admin", 200),
        ("/api/v1/chain/boxes", "analyst", 200),
        ("/api/v1/chain/member-platform", "analyst", 403),
        ("/api/v1/chain/member-platform", "admin", 200),
    ],
)
def test_roles(client, path: str, role: str | None, status: int) -> None:
    headers = {"Authorization": f"Bearer {client.tokens.get(role, 'not-a-token')}"} if role else {}
    assert client.get(path, params=PERIOD, headers=headers).status_code == status


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"from": "yesterday", "to": "2026-01-02"}, "from/to"),
        ({"from": "2026-01-02", "to": "2026-01-01"}, "to must be after from"),
        ({"from": "2026-01-01", "to": "2026-01-02", "level": "planet"}, "level"),
        ({"from": "2026-01-01", "to": "2026-01-02", "interval": "7m"}, "interval"),
    ],
)
def test_bad_queries_get_one_line(client, params: dict[str, str], why: str) -> None:
    r = get(client, "/api/v1/chain/footfall", **params)
    assert r.status_code == 422 and why in r.json()["detail"]


@pytest.mark.parametrize(("level", "interval"), [("store", "1d"), ("region", "1d"), ("chain", "1d"), ("store", "1h")])
def test_the_cli_counts_the_same_days_as_the_api(client, store: StoreBooks, tmp_path, level, interval) -> None:
    """Three time zones, events either side of midnight UTC: `hq report` gives the API's rows, row for row."""
    from tests.helpers.cli import run_cli
    from tests.helpers.configs import write_toml

    url = store.engine.url.render_as_string(hide_password=False)
    hq_toml = write_toml(tmp_path / "hq.toml", {"database_url": url, "stores": STORES})
    period = {"from": str(DAY), "to": str(DAY + timedelta(days=1))}
    api = get(client, "/api/v1/chain/footfall", level=level, interval=interval, **period)
    done = run_cli("hq", "report", "--config", str(hq_toml), "--from", period["from"], "--to", period["to"],
                   "--level", level, "--interval", interval, "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == api.json() and api.json()
