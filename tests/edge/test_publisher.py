"""Delivery from the outbox to the API's store over the transport seam, on the in-memory broker.

Fast and exact: the broker goes down, or an ack is lost, at a chosen point. The same paths run against
a real Mosquitto in ``test_delivery.py``, ``tests/books/test_ingest.py`` and ``test_mqtt_security.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from storelens.books.event_log import EventLog
from storelens.books.ingest import Ingest
from storelens.edge.outbox import Outbox
from storelens.edge.publisher import CameraPublisher
from storelens.edge_events import ArrivalEvent, topic
from tests.helpers.transport import MemoryBroker, MemoryTransport


def queue(outbox: Outbox, n: int, camera: str = "c", first: int = 0) -> list[str]:
    ids = []
    for i in range(first, first + n):
        ev = ArrivalEvent(store_id="s", camera_id=camera, member_id=f"m{i}", similarity=0.9, track_id=i)
        outbox.put(ev.event_id, camera, topic("s", camera, "arrival"), ev.model_dump_json().encode())
        ids.append(ev.event_id)
    return ids


def drain(*publishers: CameraPublisher, rounds: int = 100) -> None:
    for _ in range(rounds):
        if not any(p.pump() for p in publishers):
            return


@pytest.fixture
def world(tmp_path: Path):
    broker = MemoryBroker()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    store = EventLog(f"sqlite:///{tmp_path / 'events.sqlite'}")
    ingest = Ingest(store, MemoryTransport(broker, "api", persistent_session=True), "s")
    ingest.start()
    pub = CameraPublisher(outbox, MemoryTransport(broker, "edge-c"), "s", "c", window=8)
    pub.start()
    yield SimpleNamespace(broker=broker, outbox=outbox, store=store, ingest=ingest, pub=pub)
    pub.stop()
    ingest.stop()
    store.close()
    outbox.close()


def stored_ids(store: EventLog) -> list[str]:
    return [e.payload["event_id"] for e in store.since(limit=10_000)]


@pytest.mark.parametrize("n", [1, 8, 9, 50])  # below, at and above the publisher's window
def test_every_event_arrives_once_in_order(world, n: int) -> None:
    w = world
    ids = queue(w.outbox, n)
    drain(w.pub)
    assert stored_ids(w.store) == ids and w.outbox.depth() == 0 and w.pub.published == n


@pytest.mark.parametrize("lost_acks", [1, 5])
def test_lost_acks_are_resent_after_reconnect_and_stored_once(world, lost_acks: int) -> None:
    w = world
    w.broker.drop_next_acks = lost_acks
    ids = queue(w.outbox, 20)
    drain(w.pub)
    assert w.outbox.depth() == lost_acks  # delivered, but the broker's ack never came: still owed
    w.broker.down()
    w.broker.restart()
    drain(w.pub)
    assert w.outbox.depth() == 0 and stored_ids(w.store) == ids and w.ingest.duplicates == lost_acks


def test_outage_keeps_events_in_the_outbox_until_the_broker_is_back(world) -> None:
    w = world
    before = queue(w.outbox, 3)
    drain(w.pub)
    w.broker.down()
    during = queue(w.outbox, 7, first=3)
    drain(w.pub)
    assert w.outbox.depth() == 7 and stored_ids(w.store) == before
    w.broker.restart()
    drain(w.pub)
    assert stored_ids(w.store) == before + during and w.outbox.depth() == 0


def test_an_api_restart_misses_nothing(world, tmp_path: Path) -> None:
    w = world
    w.ingest.stop()  # the API goes away; its persistent session keeps queueing
    ids = queue(w.outbox, 5)
    drain(w.pub)
    assert w.outbox.depth() == 0 and stored_ids(w.store) == []
    again = Ingest(w.store, MemoryTransport(w.broker, "api", persistent_session=True), "s")
    again.start()
    assert stored_ids(w.store) == ids
    again.stop()


def test_status_is_retained_and_says_offline_after_stop(world) -> None:
    w = world
    w.pub.set_status("online", 4.0, "rtsp")
    assert json.loads(w.broker.retained[topic("s", "c", "status")])["state"] == "online"
    w.broker.down()
    w.broker.restart()  # republished with a fresh time on reconnect
    statuses = [json.loads(p)["state"] for t, p in w.broker.published if t.endswith("/status")]
    assert statuses == ["online", "online"]
    w.pub.stop()
    assert json.loads(w.broker.retained[topic("s", "c", "status")])["state"] == "offline"
    assert w.store.count() == 0  # status messages are not events


def test_two_cameras_share_one_outbox_without_mixing(world, tmp_path: Path) -> None:
    w = world
    other = CameraPublisher(w.outbox, MemoryTransport(w.broker, "edge-d"), "s", "d", window=8)
    other.start()
    c_ids, d_ids = queue(w.outbox, 12, "c"), queue(w.outbox, 12, "d")
    drain(w.pub, other)
    stored = w.store.since(limit=100)
    assert [e.payload["event_id"] for e in stored if e.payload["camera_id"] == "c"] == c_ids
    assert [e.payload["event_id"] for e in stored if e.payload["camera_id"] == "d"] == d_ids
    other.stop()
