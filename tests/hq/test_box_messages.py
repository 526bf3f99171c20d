"""The boxes' visits and statuses at head office: kept only when their box signed them, and never lost.

A forged one (unsigned, signed by another store's key, for another purpose, or speaking for another store) changes
nothing and is still acknowledged (a redelivery would be refused again); a real one is kept once. With head office's
PostgreSQL stopped for 30 s while visits and statuses arrive over a real Mosquitto, every one is kept after it
returns, in order (the last status wins), because each is acknowledged to the broker only once committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel
from sqlalchemy import select

from storelens.apps.hq import HqApp
from storelens.chain_messages import VisitRecord, status_topic, visit_topic
from storelens.clock import iso, utc_now
from storelens.config import HqConfig
from storelens.edge_events import StatusEvent, new_event_id
from storelens.hq.box_keys import BoxKeys
from storelens.hq.box_messages import BoxMessages
from storelens.hq.crm import CrmOutbox
from storelens.hq.database import open_database
from storelens.hq.registry import box_status
from storelens.hq.schema import crm_outbox
from storelens.signing import SigningKey
from tests.helpers.chain import wait_until
from tests.helpers.services import Mosquitto, Postgres

KEYS = {"s1": SigningKey.generate(), "s10": SigningKey.generate()}  # two stores whose ids share a prefix
OUTAGE_SECONDS = 30


def visit(store_id: str = "s1") -> VisitRecord:
    return VisitRecord(visit_id=new_event_id(), store_id=store_id, camera_id="door", member_id="M-1",
                       arrived_at=iso(utc_now()), window_minutes=60, bought=False)  # fmt: skip


def status(store_id: str = "s1", state: str = "online") -> StatusEvent:
    return StatusEvent(store_id=store_id, camera_id="door", state=state)  # type: ignore[arg-type]


def signed(by: str, purpose: str, message: BaseModel) -> bytes:
    return KEYS[by].sign(purpose, message.model_dump_json().encode())  # type: ignore[arg-type]


Case = Callable[[], tuple[str, bytes]]
FORGED: list[tuple[str, Case]] = [
    ("an unsigned visit", lambda: (visit_topic("s1"), visit().model_dump_json().encode())),
    ("a visit signed by s10's key under s1", lambda: (visit_topic("s1"), signed("s10", "visit", visit()))),
    ("s10's visit under s1, signed by s1", lambda: (visit_topic("s1"), signed("s1", "visit", visit("s10")))),
    ("a visit signed as a status", lambda: (visit_topic("s1"), signed("s1", "status", visit()))),
    ("a visit of a store with no key", lambda: (visit_topic("s2"), signed("s1", "visit", visit("s2")))),
    ("an unsigned status", lambda: (status_topic("s1"), status().model_dump_json().encode())),
    ("a status signed by s10's key under s1", lambda: (status_topic("s1"), signed("s10", "status", status()))),
    ("s10's status under s1, signed by s1", lambda: (status_topic("s1"), signed("s1", "status", status("s10")))),
    ("a visit on the status topic", lambda: (status_topic("s1"), signed("s1", "status", visit()))),
    ("a receipt's signature on a status", lambda: (status_topic("s1"), signed("s1", "receipt", status()))),
    ("not JSON", lambda: (status_topic("s1"), b"\xff{")),
]


@pytest.fixture
def messages(tmp_path: Path) -> BoxMessages:
    database = open_database(f"sqlite:///{tmp_path / 'hq.sqlite'}")
    for store_id, key in KEYS.items():
        database.members.register_box(store_id, key.public)
    return BoxMessages(database.members, CrmOutbox(database.events.engine), database.events.engine,
                       BoxKeys(database.members))  # fmt: skip


def visits_kept(messages: BoxMessages) -> int:
    with messages.engine.connect() as conn:
        return len(conn.execute(select(crm_outbox.c.key).where(crm_outbox.c.kind == "visit")).all())


@pytest.mark.parametrize(("name", "case"), FORGED, ids=[n for n, _ in FORGED])
def test_a_forged_visit_or_status_changes_nothing(messages: BoxMessages, name: str, case: Case) -> None:
    acks: list[str] = []
    topic, payload = case()
    messages.take(topic, payload, lambda: acks.append(topic))
    assert messages.keep() == 1
    assert acks == [topic]  # acknowledged: sent again, it would be refused again
    assert (messages.kept, messages.box_keys.refused) == (0, 1)
    assert visits_kept(messages) == 0 and box_status(messages.engine) == []


def test_a_signed_visit_and_status_are_kept_once(messages: BoxMessages) -> None:
    real = visit()
    for _ in range(2):  # a redelivery changes nothing
        messages.take(visit_topic("s1"), signed("s1", "visit", real), lambda: None)
    messages.take(status_topic("s10"), signed("s10", "status", status("s10", "reconnecting")), lambda: None)
    assert messages.keep() == 3
    assert (messages.kept, messages.box_keys.refused, visits_kept(messages)) == (3, 0, 1)
    assert [(r["store_id"], r["state"]) for r in box_status(messages.engine)] == [("s10", "reconnecting")]


def test_visits_and_statuses_sent_while_the_database_is_away_are_all_kept(tmp_path: Path) -> None:
    pg = Postgres(tmp_path / "pg").start()
    broker = Mosquitto(tmp_path).start()
    app: HqApp | None = None
    box = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bridges")
    try:
        keys_file = str(tmp_path / "hq-keys.json")
        config = {"database_url": pg.database("hq"), "api": {"enabled": False}, "mqtt": {"url": broker.url},
                  "signing_keys_file": keys_file}  # fmt: skip
        app = HqApp(HqConfig.model_validate(config))
        for store_id, key in KEYS.items():
            app.members.register_box(store_id, key.public)
        assert app.start(15)
        box.connect("127.0.0.1", broker.port)
        box.loop_start()
        sent: list[str] = []

        def send(store_id: str, state: str, forged: bool = False) -> None:
            record = visit(store_id)
            by = "s1" if forged and store_id == "s10" else store_id
            sent.extend([] if forged else [record.visit_id])
            for name, payload in ((visit_topic(store_id), signed(by, "visit", record)),
                                  (status_topic(store_id), signed(by, "status", status(store_id, state)))):  # fmt: skip
                box.publish(name, payload, qos=1).wait_for_publish(5)

        send("s1", "online")
        assert wait_until(lambda: app.box_messages.kept == 2, 15)
        pg.halt()  # head office's database goes away for 30 s while the boxes keep sending
        halted = time.monotonic()
        for i in range(10):
            send("s1" if i % 2 else "s10", "reconnecting" if i < 8 else "offline")
        send("s10", "online", forged=True)  # signed by s1's key: never kept
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - halted)))
        assert app.box_messages.kept == 2
        pg.serve()
        assert wait_until(lambda: app.box_messages.kept == 22, 30), app.box_messages.kept
        assert app.box_messages.box_keys.refused == 2
        with app.events.engine.connect() as conn:
            kept = {r.key for r in conn.execute(select(crm_outbox.c.key).where(crm_outbox.c.kind == "visit"))}
        assert kept == set(sent) and len(sent) == 11
        assert {r["store_id"]: r["state"] for r in box_status(app.events.engine)} == {"s1": "offline", "s10": "offline"}
    finally:
        box.loop_stop()
        box.disconnect()
        if app is not None:
            app.stop()
        broker.stop()
        pg.stop()
