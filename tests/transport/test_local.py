"""The demo's local broker: Mosquitto when installed, amqtt in-process otherwise; both deliver QoS 1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from storelens.config import MqttConfig
from storelens.edge.outbox import Outbox
from storelens.edge.publisher import CameraPublisher, camera_transport
from storelens.edge_events import ArrivalEvent, topic
from storelens.transport.local import LocalBroker
from tests.helpers.services import Collector


@pytest.mark.parametrize("prefer_mosquitto", [True, False], ids=["mosquitto", "amqtt"])
def test_local_broker_delivers(tmp_path: Path, prefer_mosquitto: bool) -> None:
    broker = LocalBroker(prefer_mosquitto=prefer_mosquitto).start()
    assert broker.kind.startswith("mosquitto" if prefer_mosquitto else "amqtt")
    collector = Collector(broker.port)
    outbox = Outbox(tmp_path / "o.sqlite")
    events = [
        ArrivalEvent(store_id="s", camera_id="c", member_id=f"m{i}", similarity=0.95, track_id=i) for i in range(50)
    ]
    time.sleep(0.5)
    for ev in events:
        outbox.put(ev.event_id, "c", topic("s", "c", "arrival"), ev.model_dump_json().encode())
    pub = CameraPublisher(outbox, camera_transport(MqttConfig(url=broker.url), "s", "c"), "s", "c")
    pub.start()
    deadline = time.monotonic() + 20
    while outbox.depth() and time.monotonic() < deadline:
        pub.pump()
        time.sleep(0.02)
    assert outbox.depth() == 0
    assert collector.wait_for(lambda c: len(c.events()) == 50, 10)
    assert {e["member_id"] for e in collector.events()} == {f"m{i}" for i in range(50)}
    pub.stop()
    collector.stop()
    broker.stop()
