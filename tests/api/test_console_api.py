"""The routes behind the store console: member search, the photo check, consent rules, access log, tokens,
cameras and their status."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from storelens.api.app import create_app
from storelens.api.services import Services
from storelens.books.token_book import new_token
from storelens.config import Config
from storelens.edge_events import StatusEvent

CONFIG = {
    "store": {"id": "paris-01", "name": "Rivoli"},
    "cameras": [{"id": "door", "source": "rtsp://user:pw@10.0.0.5/s1"}, {"id": "lounge", "source": "1",
                 "members_only": True, "min_face_px": 60}],
    "privacy": {"profile": "us-il"},
}  # fmt: skip


@pytest.fixture
def client(store, face_models):
    services = Services(Config.model_validate(CONFIG), store, face_models=lambda: face_models)
    c = TestClient(create_app(services))
    c.services = services  # type: ignore[attr-defined]
    for name, role in (("manager", "admin"), ("ipad-1", "associate")):
        token = new_token()
        store.tokens.add_token(token, name, role)
        setattr(c, name.replace("-", "_"), {"Authorization": f"Bearer {token}"})
    return c


def test_members_are_found_by_any_part_and_each_listing_is_logged(client, store) -> None:
    for member_id, name, code in (("M-1", "Ada Lovelace", "GOLD-1"), ("M-2", "Alan Turing", "SILV-2"),
                                  ("M-3", "Grace 100%_ Hopper", None)):  # fmt: skip
        store.commerce.put_member(member_id, {"name": name, "member_code": code})
    found = lambda q: [m["member_id"] for m in client.get("/api/v1/members", params={"q": q},  # noqa: E731
                                                        headers=client.manager).json()]  # fmt: skip
    assert found("lovelace") == ["M-1"] and found("silv") == ["M-2"] and found("M-") == ["M-1", "M-2", "M-3"]
    assert found("100%_") == ["M-3"] and found("%") == ["M-3"] and found("zzz") == []  # wildcards are literal
    assert client.get("/api/v1/members", params={"q": "a"}, headers=client.ipad_1).status_code == 403
    assert client.get("/api/v1/members", params={"q": ""}, headers=client.manager).status_code == 422
    log = client.get("/api/v1/privacy/access-log", headers=client.manager).json()
    assert {(r["member"], r["who"], r["what"], r["why"]) for r in log} >= {("M-1", "manager", "listing", "search")}


# photo, usable, words of the verdict, its code (the console says it in its language)
PHOTO_CASES = [("obama.jpg", True, None, None), ("solvay_conference_1927.jpg", False, "faces found", "many-faces"),
               ("tiny", False, "face too small", "too-small")]  # fmt: skip


@pytest.mark.parametrize(("photo", "usable", "problem", "code"), PHOTO_CASES)
def test_the_photo_check_gives_the_enrolment_verdict_and_keeps_nothing(client, photos, tmp_path, photo, usable,
                                                                       problem, code) -> None:  # fmt: skip
    import cv2

    if photo == "tiny":
        image = cv2.imread(str(photos["obama.jpg"]))
        path = tmp_path / "tiny.jpg"
        cv2.imwrite(str(path), cv2.resize(image, None, fx=0.12, fy=0.12))
    else:
        path = photos[photo]
    with path.open("rb") as fh:
        answer = client.post("/api/v1/members/photo-check", headers=client.manager, files={"photo": (path.name, fh)})
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["usable"] is usable and verdict["code"] == code
    if problem:
        assert problem in verdict["problem"]
    else:
        assert verdict["faces"] == 1 and verdict["width"] > 100 and verdict["problem"] is None


@pytest.mark.parametrize(("payload", "words"), [(b"not an image at all", "not"), (b"\xff\xd8\xff\xe0" + b"0" * 50, "")])
def test_a_corrupt_photo_gets_one_line_and_no_traceback(client, payload: bytes, words: str) -> None:
    answer = client.post("/api/v1/members/photo-check", headers=client.manager,
                         files={"photo": ("x.jpg", payload)})  # fmt: skip
    assert answer.status_code == 422 and set(answer.json()) == {"detail"}
    assert "Traceback" not in answer.text and "/tmp" not in answer.json()["detail"]


def test_consent_rules_follow_the_profile(client) -> None:
    rules = client.get("/api/v1/privacy/consent", headers=client.manager).json()
    assert (rules["profile"], rules["written_release"], rules["guardian_age"], rules["recognising"]) == (
        "us-il", True, 18, True)  # fmt: skip


def test_tokens_are_listed_without_their_secret_and_revoked_by_name(client) -> None:
    listed = client.get("/api/v1/tokens", headers=client.manager).json()
    assert [(t["name"], t["role"]) for t in listed] == [("ipad-1", "associate"), ("manager", "admin")]
    assert all(set(t) == {"name", "role", "created_at"} for t in listed)
    assert client.delete("/api/v1/tokens/manager", headers=client.manager).status_code == 409  # not itself
    assert client.delete("/api/v1/tokens/nobody", headers=client.manager).status_code == 404
    assert client.delete("/api/v1/tokens/ipad-1", headers=client.manager).json() == {"name": "ipad-1", "revoked": 1}
    assert client.get("/api/v1/today", headers=client.ipad_1).status_code == 401  # signed out at once


def test_cameras_show_settings_and_status_never_the_address(client) -> None:
    services = client.services
    services.note_status(StatusEvent(store_id="paris-01", camera_id="door", state="online", fps=5.0))
    services.note_status(StatusEvent(store_id="paris-01", camera_id="ghost", state="online"))  # not configured
    cams = {c["id"]: c for c in client.get("/api/v1/cameras", headers=client.manager).json()}
    assert set(cams) == {"door", "lounge"} and "pw" not in str(cams) and cams["door"]["source"] == "rtsp"
    assert cams["door"]["status"]["state"] == "online" and cams["lounge"]["status"] is None
    assert cams["lounge"]["members_only"] is True and cams["lounge"]["min_face_px"] == 60
    assert client.get("/api/v1/cameras/nope/snapshot.png", headers=client.manager).status_code == 404
    assert client.get("/api/v1/cameras/door/snapshot.png", headers=client.manager).status_code == 503  # no wiring
    assert client.get("/api/v1/cameras", headers=client.ipad_1).status_code == 403
