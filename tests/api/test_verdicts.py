"""'Not this person': the associates' word on an announcement, per camera, and what erasure leaves of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from storelens.api.app import create_app
from storelens.api.services import Services
from storelens.books.token_book import new_token
from storelens.clock import iso, utc_now
from storelens.config import default_config
from storelens.edge_events import ArrivalEvent


@pytest.fixture
def client(store):
    c = TestClient(create_app(Services(default_config(), store)))
    for name, role in (("ipad-1", "associate"), ("ipad-2", "associate"), ("manager", "admin")):
        token = new_token()
        store.tokens.add_token(token, name, role)
        setattr(c, name.replace("-", "_"), {"Authorization": f"Bearer {token}"})
    return c


def arrive(store, camera: str, similarity: float, member: str = "M-1") -> str:
    event = ArrivalEvent(store_id="demo-store", camera_id=camera, member_id=member, similarity=similarity, track_id=1)
    store.events.add(event.model_dump())
    return event.event_id


# what the associates do to each arrival (camera, similarity, actions), and the report per camera
STEPS = [
    [("entrance", 0.91, ["take"]), ("entrance", 0.64, ["reject"]), ("entrance", 0.70, []),
     ("lounge", 0.80, ["take", "reject"])],
]  # fmt: skip


@pytest.mark.parametrize("steps", STEPS)
def test_each_camera_s_announcements_are_counted_confirmed_rejected_unanswered(client, store, steps) -> None:
    for camera, similarity, actions in steps:
        event_id = arrive(store, camera, similarity)
        for action in actions:
            done = client.post(f"/api/v1/notifications/{event_id}/{action}", headers=client.ipad_1)
            assert done.status_code == 200, done.text
    now = utc_now()
    period = {"from": iso(now - timedelta(hours=1)), "to": iso(now + timedelta(minutes=1))}
    assert client.get("/api/v1/reports/announcements", params=period, headers=client.ipad_1).status_code == 403
    report = {r["camera_id"]: r for r in client.get("/api/v1/reports/announcements", params=period,
                                                      headers=client.manager).json()}  # fmt: skip
    assert report["entrance"] | {} == {
        "camera_id": "entrance", "announced": 3, "confirmed": 1, "rejected": 1, "unanswered": 1,
        "rejected_share": 0.5, "lowest_confirmed": 0.91, "highest_rejected": 0.64,
    }  # fmt: skip
    # a rejection stands over an earlier "I'll take this"
    assert (report["lounge"]["confirmed"], report["lounge"]["rejected"]) == (0, 1)


def test_a_rejection_is_shown_on_every_ipad_and_a_later_take_does_not_undo_it(client, store) -> None:
    event_id = arrive(store, "entrance", 0.66)
    said = client.post(f"/api/v1/notifications/{event_id}/reject", headers=client.ipad_1).json()
    assert said["by"] == "ipad-1"
    client.post(f"/api/v1/notifications/{event_id}/take", headers=client.ipad_2)
    listed = client.get("/api/v1/notifications", headers=client.ipad_2).json()
    assert listed[0]["rejected"] == said  # a reloaded iPad shows it too
    rows = store.events.verdicts(iso(utc_now() - timedelta(hours=1)), iso(utc_now() + timedelta(minutes=1)))
    assert [(r.camera_id, r.similarity, r.verdict) for r in rows] == [("entrance", 0.66, "rejected")]


@pytest.mark.parametrize(("path", "code"), [("/api/v1/notifications/nope-404/reject", 404),
                                            ("/api/v1/notifications/..%2Fx/reject", 404)])  # fmt: skip
def test_a_rejection_of_no_arrival_is_refused(client, path: str, code: int) -> None:
    answer = client.post(path, headers=client.ipad_1)
    assert answer.status_code in (code, 422) and set(answer.json()) == {"detail"}


def test_erasure_leaves_the_verdict_linked_to_nothing(client, store) -> None:
    """The verdict keeps the camera, similarity and word for the store's threshold, and no way back to the member."""
    event_id = arrive(store, "entrance", 0.71, member="M-9")
    client.post(f"/api/v1/notifications/{event_id}/reject", headers=client.ipad_1)
    store.erase_member("M-9")
    from sqlalchemy import select

    from storelens.books.schema import verdicts

    with store.engine.connect() as conn:
        rows = conn.execute(select(verdicts.c.event_id, verdicts.c.similarity, verdicts.c.verdict)).all()
    assert [tuple(r) for r in rows] == [(None, 0.71, "rejected")]
