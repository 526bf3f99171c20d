"""The event store (SQLite and PostgreSQL) and the API: dedup, auth and roles, replay, reports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from storelens.api.app import create_app
from storelens.api.services import Services
from storelens.books.token_book import new_token
from storelens.edge_events import ArrivalEvent, FootfallEvent, VisitorEvent
from storelens.i18n import Translator


def footfall(camera: str, start: str, end: str, entries: int, unique: int, vip: int) -> dict:
    return FootfallEvent(
        store_id="paris-01",
        camera_id=camera,
        interval_start=start,
        interval_end=end,
        entries=entries,
        unique_visitors=unique,
        vip_arrivals=vip,
    ).model_dump()


DAY = [
    footfall("entrance", "2026-11-21T09:00:00.000Z", "2026-11-21T09:15:00.000Z", 4, 3, 1),
    footfall("entrance", "2026-11-21T09:15:00.000Z", "2026-11-21T09:30:00.000Z", 6, 5, 0),
    footfall("entrance", "2026-11-21T10:00:00.000Z", "2026-11-21T10:15:00.000Z", 2, 2, 1),
    footfall("side-door", "2026-11-21T09:00:00.000Z", "2026-11-21T09:15:00.000Z", 1, 1, 0),
]


def test_events_are_stored_once(store) -> None:
    ev = ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id="M1", similarity=0.95, track_id=1)
    assert store.events.add(ev.model_dump()) == 1
    assert store.events.add(ev.model_dump()) is None  # redelivered: deduplicated by event_id
    v = VisitorEvent(
        store_id="paris-01", camera_id="entrance", anon_id="anon-1", track_id=2, returning=False, entered=True
    )
    store.events.add(v.model_dump())
    assert store.events.count() == 2 and store.events.count("vip_arrival") == 1
    replay = store.events.since(store.events.since()[0].seq)
    assert [e.payload["type"] for e in replay] == ["visitor"]


def test_tokens_are_stored_hashed(store) -> None:
    token = new_token()
    store.tokens.add_token(token, "ipad-1", "associate")
    assert store.tokens.token(token) == ("ipad-1", "associate") and store.tokens.token("nope") is None
    from sqlalchemy import text

    with store.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT token_hash FROM tokens"))]
    assert token not in stored and len(stored[0]) == 64


@pytest.fixture
def client(store):
    admin, associate = new_token(), new_token()
    store.tokens.add_token(admin, "hq", "admin")
    store.tokens.add_token(associate, "ipad-1", "associate")
    for ev in DAY:
        store.events.add(ev)
    from storelens.config import default_config

    c = TestClient(create_app(Services(default_config(), store)))
    c.admin = {"Authorization": f"Bearer {admin}"}  # type: ignore[attr-defined]
    c.associate = {"Authorization": f"Bearer {associate}"}  # type: ignore[attr-defined]
    return c


REPORT = "/api/v1/reports/footfall?from=2026-11-21T00:00Z&to=2026-11-22T00:00Z"


@pytest.mark.parametrize(
    ("path", "who", "code"),
    [("/api/v1/health", None, 200), ("/api/v1/events", None, 401), ("/api/v1/events", "bad", 401),
     ("/api/v1/events", "associate", 200), (REPORT, "associate", 403), (REPORT, "admin", 200)],
)  # fmt: skip
def test_auth_and_roles(client, path: str, who: str | None, code: int) -> None:
    headers = {"Authorization": "Bearer not-a-token"} if who == "bad" else getattr(client, who) if who else {}
    response = client.get(path, headers=headers)
    assert response.status_code == code
    if code >= 400:
        assert set(response.json()) == {"detail"}  # one error shape


def test_reports_in_every_format(client) -> None:
    rows = client.get(REPORT + "&interval=1h", headers=client.admin).json()
    by = {
        (r["camera_id"], r["interval_start"][11:16]): (r["entries"], r["unique_visitors"], r["vip_arrivals"])
        for r in rows
    }
    assert by == {
        ("entrance", "09:00"): (10, 8, 1),
        ("side-door", "09:00"): (1, 1, 0),
        ("all", "09:00"): (11, 9, 1),
        ("entrance", "10:00"): (2, 2, 1),
        ("all", "10:00"): (2, 2, 1),
    }
    day = client.get(REPORT + "&interval=1d&format=csv", headers=client.admin)
    assert day.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(day.text)))
    assert [(r["camera_id"], r["entries"]) for r in table] == [("entrance", "12"), ("side-door", "1"), ("all", "13")]
    xlsx = client.get(REPORT + "&format=xlsx", headers=client.admin)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.values)
    assert values[0][:3] == ("store_id", "camera_id", "interval_start") and len(values) == 1 + 7  # 4 cameras + 3 "all"
    chart = client.get(
        "/api/v1/reports/footfall/chart.png?from=2026-11-21T00:00Z&to=2026-11-22T00:00Z", headers=client.admin
    )
    assert chart.content[:8] == b"\x89PNG\r\n\x1a\n"
    bad = client.get("/api/v1/reports/footfall?from=yesterday&to=today", headers=client.admin)
    assert bad.status_code == 422 and "ISO 8601" in bad.json()["detail"]


def test_tokens_route_and_openapi(client) -> None:
    made = client.post("/api/v1/tokens", json={"name": "ipad-2", "role": "associate"}, headers=client.admin)
    assert made.status_code == 201
    new = {"Authorization": f"Bearer {made.json()['token']}"}
    assert client.get("/api/v1/events", headers=new).status_code == 200
    assert client.post("/api/v1/tokens", json={"name": "x", "role": "admin"}, headers=new).status_code == 403
    again = client.post("/api/v1/tokens", json={"name": "ipad-2", "role": "admin"}, headers=client.admin)
    assert again.status_code == 409 and "ipad-2" in again.json()["detail"]  # a name says which device to revoke
    assert [r["name"] for r in client.get("/api/v1/tokens", headers=client.admin).json()].count("ipad-2") == 1
    store = client.app.state.services.books
    store.events.add(
        ArrivalEvent(
            store_id="paris-01",
            camera_id="entrance",
            member_id="M1",
            similarity=0.95,
            track_id=1,
            ts="2020-01-01T10:00:00.000Z",
        ).model_dump()
    )
    store.events.add(
        ArrivalEvent(
            store_id="paris-01", camera_id="entrance", member_id="M2", similarity=0.95, track_id=2
        ).model_dump()
    )
    assert client.get("/api/v1/today", headers=new).json()["vip_arrivals"] == 1  # only today's
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert any(code.startswith("2") for code in op["responses"]), path  # each says what success returns
    events = client.get("/api/v1/events?type=footfall&since_seq=0", headers=client.associate).json()
    assert len(events) == 4 and all(json.dumps(e["event"]) for e in events)


# what a person meets: (method, path, body) -> status, and the words a French page then shows (from the catalogue)
REFUSALS = [
    ("DELETE", "/api/v1/tokens/hq", None, 409, "Un jeton ne peut pas se révoquer lui-même"),
    ("DELETE", "/api/v1/tokens/lost-ipad", None, 404, "Aucun jeton ne s'appelle lost-ipad."),
    ("POST", "/api/v1/tokens", {"name": "ipad-1", "role": "associate"}, 409, "Un jeton nommé ipad-1 existe déjà"),
    ("GET", "/api/v1/reports/footfall?from=yesterday&to=today", None, 422, "ISO 8601, comme 2026-11-21) : yesterday"),
    ("GET", "/api/v1/reports/footfall?from=2026-11-22&to=2026-11-21", None, 422, "La fin doit être après le début."),
    ("GET", "/api/v1/reports/health?from=2026-11-22&to=2026-11-21", None, 422, "La fin doit être après le début."),
]


@pytest.mark.parametrize(("method", "path", "body", "code", "french"), REFUSALS)
def test_a_refusal_carries_its_catalogued_message_for_the_reader(client, method, path, body, code, french) -> None:
    """The API keeps its English ``detail`` for machines and adds the catalogued message and its values, which a
    page says in its reader's language (SL.detail: t(message, params))."""
    answer = client.request(method, path, json=body, headers=client.admin)
    assert answer.status_code == code, answer.text
    said = answer.json()
    assert set(said) == {"detail", "message", "params"} and said["detail"]
    assert french in Translator("fr_FR").gettext(said["message"], **said["params"])
