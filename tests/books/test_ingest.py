"""MQTT ingest with a real Mosquitto: valid events stored once, redeliveries and malformed messages not."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storelens.books.event_log import EventLog
from storelens.books.ingest import Ingest, ingest_transport
from storelens.config import MqttConfig
from storelens.edge_events import ArrivalEvent, topic


def test_ingest_dedups_and_rejects(tmp_path, broker) -> None:
    store = EventLog(f"sqlite:///{tmp_path / 'e.sqlite'}")
    pushed: list[dict] = []
    ingest = Ingest(
        store,
        ingest_transport(MqttConfig(url=broker.url), "paris-01"),
        "paris-01",
        on_new=lambda seq, ev: pushed.append(ev),
    )
    ingest.start()
    assert ingest.transport.wait_subscribed(10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-pub")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    t = topic("paris-01", "entrance", "arrival")
    ev = ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id="M1", similarity=0.95, track_id=1)
    for payload in (ev.model_dump_json(), ev.model_dump_json(), "{not json", '{"type": "vip_arrival"}'):
        pub.publish(t, payload, qos=1).wait_for_publish(5)
    pub.publish(topic("paris-01", "entrance", "status"), '{"type":"status"}', qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 10
    while (ingest.rejected < 2 or ingest.duplicates < 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.count() == 1 and (ingest.duplicates, ingest.rejected) == (1, 2)
    assert [p["event_id"] for p in pushed] == [ev.event_id]
    pub.loop_stop()
    ingest.stop()


def test_events_sent_while_the_api_is_down_are_stored_when_it_is_back(tmp_path, broker) -> None:
    """The broker keeps the ingest's session: an API restart loses no event."""
    store = EventLog(f"sqlite:///{tmp_path / 'e.sqlite'}")
    first = Ingest(store, ingest_transport(MqttConfig(url=broker.url), "paris-01"), "paris-01")
    first.start()
    assert first.transport.wait_subscribed(10)
    first.stop()  # the API goes away
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-pub")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    sent = [
        ArrivalEvent(store_id="paris-01", camera_id="entrance", member_id=f"M{i}", similarity=0.95, track_id=i)
        for i in range(5)
    ]
    for ev in sent:
        pub.publish(topic("paris-01", "entrance", "arrival"), ev.model_dump_json(), qos=1).wait_for_publish(5)
    again = Ingest(store, ingest_transport(MqttConfig(url=broker.url), "paris-01"), "paris-01")  # the API is back
    again.start()
    deadline = time.monotonic() + 10
    while store.count() < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(e.payload["event_id"] for e in store.since()) == sorted(ev.event_id for ev in sent)
    pub.loop_stop()
    again.stop()


def test_camera_status_reaches_the_console_and_a_hostile_one_is_refused(tmp_path, broker) -> None:
    from storelens.edge_events import StatusEvent

    seen: list[StatusEvent] = []
    transport = ingest_transport(MqttConfig(url=broker.url), "paris-01")
    ingest = Ingest(EventLog(f"sqlite:///{tmp_path / 'e.sqlite'}"), transport, "paris-01", on_status=seen.append)
    ingest.start()
    assert ingest.transport.wait_subscribed(10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-status")
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    good = StatusEvent(store_id="paris-01", camera_id="door", state="reconnecting", detail="no frame for 5 s")
    where = topic("paris-01", "door", "status")
    sent = [good.model_dump_json(),
            '{"type":"status"}',  # missing fields
            good.model_dump_json().replace('"door"', '"till"'),  # another camera than its topic's
            '{"type":"status","state":"online","x":"' + "A" * 9000 + '"}']  # fmt: skip
    for payload in sent:
        pub.publish(where, payload, qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 10
    while ingest.rejected < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(s.camera_id, s.state, s.detail) for s in seen] == [("door", "reconnecting", "no frame for 5 s")]
    assert ingest.rejected == 3
    pub.loop_stop()
    ingest.stop()
