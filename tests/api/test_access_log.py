"""The access log: every read of a member's card, photo or consent is on the record, and outlives erasure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from storelens.api.app import create_app
from storelens.api.books import StoreBooks
from storelens.apps.api import build_services
from storelens.books.token_book import new_token
from storelens.config import Config
from storelens.edge_events import ArrivalEvent
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml

PROFILE = {"name": "Ada Lovelace", "tier": "Gold", "phone": "+33 6 12 34 56 78", "member_code": "GOLD-1042"}


@pytest.fixture
def api(tmp_path: Path, prepared_models_dir: Path):
    data = {"store": {"id": "paris-01"}, "cameras": [{"id": "entrance", "source": "x"}],
            "models": {"dir": str(prepared_models_dir)},
            "api": {"database_url": f"sqlite:///{tmp_path / 'events.sqlite'}", "photos_dir": str(tmp_path / "p")},
            "gallery": {"dir": str(tmp_path / "g")}}  # fmt: skip
    config_file = write_toml(tmp_path / "store.toml", data)
    services = build_services(Config.model_validate(data), StoreBooks(data["api"]["database_url"]))
    admin, ipad = new_token(), new_token()
    services.books.tokens.add_token(admin, "head-office", "admin")
    services.books.tokens.add_token(ipad, "ipad-counter-1", "associate")
    with TestClient(create_app(services)) as client:
        client.config_file = config_file  # type: ignore[attr-defined]
        client.admin = {"Authorization": f"Bearer {admin}"}  # type: ignore[attr-defined]
        client.ipad = {"Authorization": f"Bearer {ipad}"}  # type: ignore[attr-defined]
        client.ipad_token = ipad  # type: ignore[attr-defined]
        client.services = services  # type: ignore[attr-defined]
        yield client
    services.close()


def reads(api, member: str) -> list[tuple[str, str, str, str]]:
    rows = api.get(f"/api/v1/members/{member}/access-log", headers=api.admin).json()
    return [(r["who"], r["role"], r["what"], r["why"]) for r in rows]


def test_every_read_is_recorded_with_who_what_and_why(api) -> None:
    api.put("/api/v1/members/M-1042", json=PROFILE, headers=api.admin)
    api.get("/api/v1/members/M-1042", headers=api.ipad)
    api.get("/api/v1/members/lookup?code=GOLD-1042", headers=api.ipad)
    arrival = ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id="M-1042", similarity=0.9, track_id=1)
    api.services.books.events.add(arrival.model_dump())
    api.get("/api/v1/notifications", headers=api.ipad)  # the iPad's feed shows the card
    with api.websocket_connect("/api/v1/live") as ws:  # and so does the live feed's replay
        ws.send_json({"token": api.ipad_token, "since_seq": 0})
        assert ws.receive_json()["kind"] == "arrival"
    assert api.get("/api/v1/members/M-1042/access-log", headers=api.ipad).status_code == 403  # admins only
    assert reads(api, "M-1042") == [
        ("head-office", "admin", "card", "admin"),
        ("ipad-counter-1", "associate", "card", "lookup"),
        ("ipad-counter-1", "associate", "card", "lookup"),
        ("ipad-counter-1", "associate", "card", "arrival"),
        ("ipad-counter-1", "associate", "card", "arrival"),
    ]


def test_erasure_keeps_the_log_under_the_receipt_id(api) -> None:
    api.put("/api/v1/members/M-7", json=PROFILE | {"phone": None, "member_code": None}, headers=api.admin)
    api.get("/api/v1/members/M-7", headers=api.ipad)
    receipt = api.delete("/api/v1/members/M-7", headers=api.admin).json()
    assert receipt["receipt_id"].startswith("erasure-")
    assert reads(api, "M-7") == []  # nothing left under the member's id ...
    kept = reads(api, receipt["receipt_id"])  # ... and the reads are still accountable
    assert kept == [("head-office", "admin", "card", "admin"), ("ipad-counter-1", "associate", "card", "lookup")]
    cli = run_cli("privacy", "access-log", "--json", "--config", str(api.config_file), "--member-id",
                  receipt["receipt_id"])  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    rows = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [(r["who"], r["why"]) for r in rows] == [("head-office", "admin"), ("ipad-counter-1", "lookup")]
    again = reads(api, receipt["receipt_id"])
    assert again[-1][2:] == ("access-log", "admin") and again[-1][0].startswith("cli:")  # the export is a read too


def test_subject_access_export_holds_everything_and_no_vector(api, photos) -> None:
    api.put("/api/v1/members/M-1042", json=PROFILE, headers=api.admin)
    with photos["obama.jpg"].open("rb") as a, photos["obama3.jpg"].open("rb") as b:
        files = [("photos", ("front.jpg", a, "image/jpeg")), ("photos", ("side.jpg", b, "image/jpeg"))]
        assert api.post("/api/v1/members/M-1042/enrol", files=files, data={"consent": "CF-7"},
                        headers=api.admin).status_code == 200  # fmt: skip
    arrival = ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id="M-1042", similarity=0.9, track_id=1)
    api.services.books.events.add(arrival.model_dump())
    api.get("/api/v1/members/M-1042", headers=api.ipad)
    export = api.get("/api/v1/members/M-1042/export", headers=api.admin).json()
    assert export["profile"]["name"] == "Ada Lovelace" and export["profile"]["member_code"] == "GOLD-1042"
    assert export["biometrics"]["vectors"] == 2 and export["biometrics"]["boxes"] == ["paris-01"]
    assert export["biometrics"]["consent"]["reference"] == "CF-7"
    assert export["visits"] == [arrival.ts] and export["purchases"] == []
    assert [(r["who"], r["what"]) for r in export["access_log"]][-1] == ("ipad-counter-1", "card")
    floats = [v for v in json.dumps(export).replace(",", " ").replace("]", " ").split() if v.count(".") == 1
              and v.replace(".", "").replace("-", "").isdigit()]  # fmt: skip
    assert len(floats) < 5, "no face vector (128 or more floats) in an export"
    assert api.get("/api/v1/members/M-1042/export", headers=api.ipad).status_code == 403
    assert api.get("/api/v1/members/M-404/export", headers=api.admin).status_code == 404
    cli = run_cli("privacy", "export", "--config", str(api.config_file), "--member-id", "M-1042")
    assert cli.returncode == 0 and json.loads(cli.stdout)["biometrics"]["vectors"] == 2, cli.stderr


def test_the_members_list_pages_and_sorts_and_each_listing_is_on_the_record(api) -> None:
    for member_id, name in (("M-3", "Charles Babbage"), ("M-1", "Ada Lovelace"), ("M-2", "Grace Hopper")):
        assert api.put(f"/api/v1/members/{member_id}", json={"name": name}, headers=api.admin).status_code == 200

    def page(**q: object) -> tuple[int, list[str]]:
        body = api.get("/api/v1/member-list", params=q, headers=api.admin).json()
        return body["total"], [r["member_id"] for r in body["rows"]]

    assert page() == (3, ["M-1", "M-3", "M-2"])  # by name
    assert page(sort="name", order="desc") == (3, ["M-2", "M-3", "M-1"])
    assert page(sort="member_id", limit=2) == (3, ["M-1", "M-2"]) and page(sort="member_id", offset=2) == (3, ["M-3"])
    assert page(sort="enrolled_at") == (3, ["M-1", "M-2", "M-3"])  # none enrolled: by id, last either way
    assert api.get("/api/v1/member-list", params={"sort": "phone"}, headers=api.admin).status_code == 422
    assert api.get("/api/v1/member-list", headers=api.ipad).status_code == 403  # a manager's page
    assert ("head-office", "admin", "listing", "admin") in reads(api, "M-2")
    grouped = api.get("/api/v1/privacy/access-log", params={"grouped": True}, headers=api.admin).json()
    listing = [r for r in grouped if r["what"] == "listing"]
    # five pages listed in a row (12 member rows): one line, for several members, not twelve
    assert [(r["member"], r["count"]) for r in listing] == [("", 12)]


def test_the_access_log_filters_by_reader_and_purpose_and_groups_repeated_reads(api) -> None:
    api.put("/api/v1/members/M-1042", json=PROFILE, headers=api.admin)
    for _ in range(3):  # an iPad showing the card on each page load
        api.get("/api/v1/members/M-1042", headers=api.ipad)
    api.get("/api/v1/members/lookup?code=GOLD-1042", headers=api.ipad)
    api.get("/api/v1/members/M-1042/consent", headers=api.admin)

    def log(**q: object) -> list[tuple[str, str, int]]:
        rows = api.get("/api/v1/privacy/access-log", params=q, headers=api.admin).json()
        return [(r["who"], r["why"], r["count"]) for r in rows]

    everything = log()
    assert len(everything) == 5 and all(n == 1 for *_, n in everything)
    grouped = log(grouped=True)
    # the iPad's card shown three times and looked up once by its code: four reads of its card, one line
    assert sorted(grouped) == [("head-office", "admin", 1), ("ipad-counter-1", "lookup", 4)]
    assert {who for who, *_ in log(reader="ipad-counter-1")} == {"ipad-counter-1"}
    assert log(why="admin") == [("head-office", "admin", 1)]
    assert api.get("/api/v1/privacy/access-log", params={"why": "gossip"}, headers=api.admin).status_code == 422
    readers = api.get("/api/v1/privacy/access-log/readers", headers=api.admin).json()
    assert readers == ["head-office", "ipad-counter-1"]
