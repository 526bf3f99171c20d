"""Head office's ingest from RabbitMQ's quorum queue: workers that join and die during traffic lose nothing.

A RabbitMQ node of the test's own (MQTT plugin for the publishers, AMQP for head office) and a PostgreSQL
database of its own; ``storelens hq serve`` processes with ``ingest.queue = "rabbitmq"``. Events are published over
MQTT as the stores' bridges publish them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from storelens.bench.hq import publish_events
from storelens.books.event_log import EventLog
from storelens.config import MqttConfig
from storelens.errors import ConfigError
from storelens.hq.database import HqDatabase
from storelens.transport.amqp import AmqpQueue, binding_key, topic_of
from tests.helpers.chain import wait_until
from tests.helpers.configs import write_toml
from tests.helpers.rabbitmq import RabbitMq, available


@pytest.mark.parametrize(
    ("pattern", "key"),
    [
        ("storelens/v1/+/+/visitor", "storelens.v1.*.*.visitor"),
        ("$share/hq/storelens/v1/+/+/+", "storelens.v1.*.*.*"),
        ("storelens/v1/paris.01/door/#", "storelens.v1.paris/01.door.#"),  # a '.' in an id travels as '/'
    ],
)
def test_topic_filters_become_binding_keys(pattern: str, key: str) -> None:
    assert binding_key(pattern) == key


@pytest.mark.parametrize(
    ("key", "topic"),
    [
        ("storelens.v1.paris-01.door.visitor", "storelens/v1/paris-01/door/visitor"),
        ("storelens.v1.paris/01.door.visitor", "storelens/v1/paris.01/door/visitor"),
    ],
)
def test_routing_keys_become_topics(key: str, topic: str) -> None:
    assert topic_of(key) == topic


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"ca_file": "/nonexistent/ca.pem"}, "mqtt.ca_file: /nonexistent/ca.pem does not exist"),
        ({"ca_file": __file__}, "unusable for amqps://"),  # a file that is not a certificate
    ],
)
def test_a_tls_queue_with_bad_files_is_one_error_at_start(files: dict[str, str], why: str) -> None:
    credentials = MqttConfig.model_validate({"url": "mqtts://127.0.0.1:8883", **files})
    with pytest.raises(ConfigError, match=why):
        AmqpQueue("amqps://127.0.0.1:5671/", credentials, "q", 10)


def _worker(
    tmp_path: Path, name: str, db_url: str, rabbit: RabbitMq, password: str
) -> tuple[subprocess.Popen[bytes], Path]:
    config = write_toml(tmp_path / f"{name}.toml", {
        "id": name, "database_url": db_url, "api": {"enabled": False}, "partition_by_month": False,
        "mqtt": {"url": rabbit.url, "username": "hq", "password": password},
        "ingest": {"queue": "rabbitmq", "amqp_url": rabbit.amqp_url, "batch": 500}})  # fmt: skip
    log = tmp_path / f"{name}.log"
    storelens = str(Path(sys.executable).with_name("storelens"))
    child = subprocess.Popen([storelens, "-v", "hq", "serve", "--config", str(config)],
                             stdout=subprocess.DEVNULL, stderr=log.open("w"))  # fmt: skip
    return child, log


@pytest.mark.skipif(not available(), reason="needs Debian's rabbitmq-server")
def test_workers_joining_and_one_killed_mid_batch_lose_and_double_nothing(tmp_path: Path, postgres: object) -> None:
    rabbit = RabbitMq(tmp_path).start()
    password = uuid.uuid4().hex
    rabbit.add_user("hq", password)
    db_url = postgres.database(f"amqp_{uuid.uuid4().hex[:8]}")  # type: ignore[attr-defined]
    HqDatabase(db_url).close()  # the tables made once, before four processes race to
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    store = EventLog(db_url)
    try:
        workers.append(_worker(tmp_path, "hq-0", db_url, rabbit, password))  # declares and binds the queue
        assert wait_until(lambda: "consuming the quorum queue" in workers[0][1].read_text(), 60), workers[0][
            1
        ].read_text()
        sent: list[int] = []
        rate, seconds = 1500.0, 12.0
        publisher = threading.Thread(
            target=lambda: sent.append(publish_events(rabbit.port, rate, seconds, 4, "hq", password))
        )
        publisher.start()
        for i in range(1, 4):  # three more workers join while the traffic flows
            time.sleep(1.0)
            workers.append(_worker(tmp_path, f"hq-{i}", db_url, rabbit, password))
        victim, victim_log = workers[1]
        assert wait_until(lambda: "consuming the quorum queue" in victim_log.read_text(), 30), victim_log.read_text()
        time.sleep(2.0)  # the victim holds a prefetched, half-written batch now
        held = rabbit.queue_depth("storelens-hq-events")[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        publisher.join(120)
        assert sent, "the publisher did not finish"
        assert wait_until(lambda: store.count() >= sent[0], 120), (store.count(), sent[0])
        time.sleep(2.0)  # anything left would arrive now
        with store.engine.connect() as conn:
            rows, distinct = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events")).one()
        assert (rows, distinct) == (sent[0], sent[0])  # none lost, none stored twice
        assert held > 0  # messages were in flight, unacknowledged, when the worker was killed
        assert wait_until(lambda: rabbit.queue_depth("storelens-hq-events") == (0, 0), 30)
        for child, log in workers[2:] + workers[:1]:
            assert child.poll() is None, log.read_text()[-2000:]
    finally:
        for child, _ in workers:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child, _ in workers:
            child.wait(60)
        store.close()
        rabbit.stop()
