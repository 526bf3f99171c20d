"""Members through the API: profile, card, lookup, enrolment by upload, card photo consent, erasure."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from storelens.api.app import create_app
from storelens.api.books import StoreBooks
from storelens.apps.api import build_services
from storelens.books.token_book import new_token
from storelens.config import Config
from storelens.edge_events import ArrivalEvent


@pytest.fixture
def api(tmp_path, prepared_models_dir):
    config = Config.model_validate(
        {
            "store": {"id": "paris-01"},
            "cameras": [{"id": "entrance", "source": "rtsp://x/1"}],
            "models": {"dir": str(prepared_models_dir)},
            "gallery": {"dir": str(tmp_path / "gallery")},
            "api": {"photos_dir": str(tmp_path / "photos")},
            "enrolment": {"purpose": "loyalty-vip", "notice_version": "3"},  # the upload form's defaults
        }
    )
    store = StoreBooks(f"sqlite:///{tmp_path / 'events.sqlite'}")
    services = build_services(config, store)  # as the API process wires it
    admin, associate = new_token(), new_token()
    store.tokens.add_token(admin, "hq", "admin")
    store.tokens.add_token(associate, "ipad-1", "associate")
    with TestClient(create_app(services)) as client:
        yield from _prepared(client, admin, associate, services)
    services.close()


def _prepared(client, admin, associate, services):
    client.admin = {"Authorization": f"Bearer {admin}"}  # type: ignore[attr-defined]
    client.associate = {"Authorization": f"Bearer {associate}"}  # type: ignore[attr-defined]
    client.services = services  # type: ignore[attr-defined]
    yield client


PROFILE = {"name": "Ada Lovelace", "tier": "Gold", "phone": "+33 6 12 34 56 78", "member_code": "GOLD-1042",
           "sizes": {"shoes": "38", "dress": "S"}, "preferences": "silk scarves, green", "notes": "prefers French",
           "photo_consent": True}  # fmt: skip


def test_profile_card_and_lookup(api) -> None:
    made = api.put("/api/v1/members/M-1042", json=PROFILE, headers=api.admin)
    assert made.status_code == 200 and made.json()["tier"] == "Gold"
    assert api.put("/api/v1/members/M-1042", json=PROFILE, headers=api.associate).status_code == 403
    by_phone = api.get("/api/v1/members/lookup?phone=%2B33612345678", headers=api.associate)
    by_code = api.get("/api/v1/members/lookup?code=GOLD-1042", headers=api.associate)
    assert by_phone.json()["member_id"] == by_code.json()["member_id"] == "M-1042"
    assert by_phone.json()["sizes"] == {"shoes": "38", "dress": "S"} and by_phone.json()["photo_url"] is None
    assert api.get("/api/v1/members/lookup?code=NOPE", headers=api.associate).status_code == 404
    assert api.get("/api/v1/members/nobody", headers=api.associate).status_code == 404


def test_enrol_by_upload_then_erase_every_trace(api, photos) -> None:
    api.put("/api/v1/members/M-1042", json=PROFILE, headers=api.admin)
    with photos["obama.jpg"].open("rb") as a, photos["obama3.jpg"].open("rb") as b:
        files = [("photos", ("front.jpg", a, "image/jpeg")), ("photos", ("side.jpg", b, "image/jpeg"))]
        enrolled = api.post("/api/v1/members/M-1042/enrol", files=files, data={"consent": "CF-7"}, headers=api.admin)
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["added_vectors"] == 2
    consent = api.get("/api/v1/members/M-1042/consent", headers=api.admin).json()
    assert (consent["consent_reference"], consent["vectors"], consent["purpose"], consent["notice_version"]) == (
        "CF-7",
        2,
        "loyalty-vip",
        "3",
    )
    assert api.get("/api/v1/members/M-1042/consent", headers=api.associate).status_code == 403
    card = api.get("/api/v1/members/M-1042", headers=api.associate).json()
    assert card["photo_url"] == "/api/v1/members/M-1042/photo"  # consented: the card shows a photo
    assert api.get(card["photo_url"], headers=api.associate).content[:2] == b"\xff\xd8"
    # refused enrolment: names the photo and reason, member unchanged
    with photos["t1.jpg"].open("rb") as group:
        refused = api.post(
            "/api/v1/members/M-2/enrol",
            files=[("photos", ("group.jpg", group, "image/jpeg"))],
            data={"consent": "CF-8"},
            headers=api.admin,
        )
    assert refused.status_code == 422 and "6 faces" in refused.json()["detail"]
    no_consent = api.post(
        "/api/v1/members/M-2/enrol",
        files=[("photos", ("a.jpg", b"x", "image/jpeg"))],
        data={"consent": ""},
        headers=api.admin,
    )
    assert no_consent.status_code == 422 and "consent" in no_consent.json()["detail"]
    # an arrival, then erasure removes vectors, photo, profile and visit history
    store = api.services.books
    store.events.add(
        ArrivalEvent(
            store_id="paris-01", camera_id="entrance", member_id="M-1042", similarity=0.96, track_id=1
        ).model_dump()
    )
    receipt = api.delete("/api/v1/members/M-1042", headers=api.admin)
    assert receipt.status_code == 200
    removed = receipt.json()["removed"]
    assert removed["vectors"] == 2 and removed["profile"] == 1 and removed["arrival_events"] == 1
    assert removed["card_photo"] == 1 and not list((api.services.photos_dir).glob("*"))
    assert api.get("/api/v1/members/M-1042", headers=api.associate).status_code == 404
    assert store.events.count("vip_arrival") == 0 and [m.member_id for m in api.services.gallery().members()] == []
    assert api.delete("/api/v1/members/M-1042", headers=api.admin).status_code == 404
    assert api.get("/api/v1/members/M-1042/consent", headers=api.admin).status_code == 404


def test_take_is_first_come(api) -> None:
    store = api.services.books
    ev = ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id="M-9", similarity=0.95, track_id=3)
    store.events.add(ev.model_dump())
    first = api.post(f"/api/v1/notifications/{ev.event_id}/take", headers=api.associate)
    second = api.post(f"/api/v1/notifications/{ev.event_id}/take", headers=api.admin)
    assert first.json()["by"] == second.json()["by"] == "ipad-1"
    feed = api.get("/api/v1/notifications", headers=api.associate).json()
    assert feed[0]["taken"]["by"] == "ipad-1" and feed[0]["cooldown_until"] > ev.ts
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api.post(f"/api/v1/notifications/{unknown}/take", headers=api.associate).status_code == 404
    assert api.post("/api/v1/notifications/nope/take", headers=api.associate).status_code == 422  # not an event id


def test_live_websocket_replays_then_pushes(api) -> None:
    store = api.services.books
    first = ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id="M-1", similarity=0.95, track_id=1)
    seq = store.events.add(first.model_dump())
    token = api.associate["Authorization"].split()[1]
    with api.websocket_connect("/api/v1/live") as ws:
        ws.send_json({"token": token, "since_seq": 0})
        replay = ws.receive_json()
        assert replay["kind"] == "arrival" and replay["event"]["event_id"] == first.event_id
        assert ws.receive_json()["kind"] == "ready"
        api.post(f"/api/v1/notifications/{first.event_id}/take", headers=api.associate)
        update = ws.receive_json()
        assert update == {"kind": "taken", "event_id": first.event_id, "taken": update["taken"]}
    with api.websocket_connect("/api/v1/live") as ws:  # reconnecting after seq: nothing old again
        ws.send_json({"token": token, "since_seq": seq})
        assert ws.receive_json()["kind"] == "ready"
    with api.websocket_connect("/api/v1/live") as ws:
        ws.send_json({"token": "wrong", "since_seq": 0})
        with pytest.raises(Exception):  # noqa: B017 - closed with policy violation
            ws.receive_json()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Los_Angeles"])
def test_the_ipad_day_starts_at_the_stores_midnight(api, zone) -> None:
    from datetime import timedelta

    from storelens.clock import iso, utc_now
    from storelens.web.reports import store_day

    svc = api.services
    svc.config = svc.config.model_copy(update={"store": svc.config.store.model_copy(update={"timezone": zone})})
    day, start, _ = store_day(zone, utc_now())
    late = ArrivalEvent(
        store_id="paris-01",
        camera_id="entrance",
        member_id="M-1",
        similarity=0.95,
        track_id=1,
        ts=iso(start - timedelta(minutes=1)),
    )
    early = ArrivalEvent(
        store_id="paris-01",
        camera_id="entrance",
        member_id="M-2",
        similarity=0.95,
        track_id=2,
        ts=iso(start + timedelta(minutes=1)),
    )
    svc.books.events.add(late.model_dump())
    svc.books.events.add(early.model_dump())
    feed = api.get("/api/v1/notifications", headers=api.associate).json()
    assert [n["event"]["event_id"] for n in feed] == [early.event_id]
    token = api.associate["Authorization"].split()[1]
    with api.websocket_connect("/api/v1/live") as ws:
        ws.send_json({"token": token, "since_seq": 0})
        assert ws.receive_json()["event"]["event_id"] == early.event_id
        assert ws.receive_json()["kind"] == "ready"
    today = api.get("/api/v1/today", headers=api.associate).json()
    assert (today["date"], today["vip_arrivals"]) == (day.isoformat(), 1)


def test_a_revoked_token_closes_its_live_feed_within_a_second(api) -> None:
    """A lost iPad: revoked while its feed is open, the feed closes (1008) before any new card reaches it."""
    import time

    from starlette.websockets import WebSocketDisconnect

    token = api.services.books.tokens.create("lost-ipad", "associate")
    with api.websocket_connect("/api/v1/live") as ws:
        ws.send_json({"token": token, "since_seq": 0})
        assert ws.receive_json()["kind"] == "ready"
        assert api.services.books.tokens.revoke("lost-ipad") == 1
        revoked = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert time.monotonic() - revoked < 1.0
        assert closed.value.code == 1008 and closed.value.reason == "token revoked"


def test_the_live_feed_refuses_a_device_that_guessed_too_often(api) -> None:
    """The brute-force block of every other entry point holds on the live feed too: 4429 and the wait."""
    from starlette.websockets import WebSocketDisconnect

    for _ in range(api.services.failed_tokens.limit):
        with api.websocket_connect("/api/v1/live") as ws:
            ws.send_json({"token": "guess", "since_seq": 0})
            with pytest.raises(WebSocketDisconnect):
                ws.receive_json()
    good = api.associate["Authorization"].split()[1]
    with api.websocket_connect("/api/v1/live") as ws:  # even a good token waits its turn
        ws.send_json({"token": good, "since_seq": 0})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4429 and "try again in" in closed.value.reason
    assert api.get("/api/v1/today", headers=api.associate).status_code == 429  # the same block over HTTP
