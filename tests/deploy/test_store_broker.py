"""The store broker as `deploy store-broker` writes it, on a real Mosquitto: only the box's own processes get in.

An anonymous client is refused; the edge's user publishes its cameras' events and nothing under ``_hq``; the
store API, logging in with the configuration's credentials, receives the edge's events and head office's
commands; neither user can write head office's commands.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from storelens.apps.api import ApiApp
from storelens.chain_messages import command_topic
from storelens.cli.main import main
from storelens.config import load_config
from storelens.edge_events import FootfallEvent, topic
from tests.helpers.chain import wait_until
from tests.helpers.configs import write_toml
from tests.helpers.services import ServerProcess, free_port

pytestmark = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs Debian's mosquitto")


class StoreBroker(ServerProcess):
    def __init__(self, workdir: Path, port: int) -> None:
        self.port, self.log = port, workdir / "mosquitto.log"
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            ("user root\n" if os.geteuid() == 0 else "")
            + f"persistence false\ninclude_dir {workdir / 'broker-conf.d'}\n"
        )

    def argv(self) -> list[str]:
        return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf)]


def client(port: int, user: str | None = None, password: str | None = None) -> tuple[mqtt.Client, list[str]]:
    got: list[str] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    if user:
        c.username_pw_set(user, password)
    c.on_message = lambda _c, _u, msg: got.append(msg.topic)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, got


@pytest.fixture
def store(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    cfg = write_toml(tmp_path / "store.toml", {
        "store": {"id": "paris-01"}, "cameras": [{"id": "door", "source": "0"}, {"id": "lounge", "source": "1"}],
        "gallery": {"dir": "gallery"}, "api": {"database_url": "sqlite:///events.sqlite", "port": free_port()},
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "username": "storelens-api",
                 "password_file": "broker/secrets/storelens-api.password", "edge_username": "storelens-edge",
                 "edge_password_file": "broker/secrets/storelens-edge.password"},
    })  # fmt: skip
    assert main(["deploy", "store-broker", "--config", str(cfg), "--out", str(tmp_path / "broker")]) == 0
    (tmp_path / "broker-conf.d").mkdir()
    shutil.copy(tmp_path / "broker" / "storelens-broker.conf", tmp_path / "broker-conf.d")
    secrets = {u: (tmp_path / "broker" / "secrets" / f"{u}.password").read_text().strip()
               for u in ("storelens-api", "storelens-edge")}  # fmt: skip
    broker = StoreBroker(tmp_path, port).start()
    yield {"port": port, "config": cfg, "secrets": secrets, "tmp": tmp_path}
    broker.stop()


def test_only_the_box_processes_get_in_and_each_only_where_it_may(store) -> None:
    port, secrets = store["port"], store["secrets"]
    anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anon")
    assert anonymous.connect("127.0.0.1", port) == 0  # the TCP connection; the CONNACK refuses it
    anonymous.loop(timeout=2)
    assert not anonymous.is_connected()
    wrong = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="wrong")
    wrong.username_pw_set("storelens-edge", "not-the-password")
    wrong.connect("127.0.0.1", port)
    wrong.loop(timeout=2)
    assert not wrong.is_connected()

    api, seen = client(port, "storelens-api", secrets["storelens-api"])
    api.subscribe("storelens/v1/#", qos=1)
    edge, _ = client(port, "storelens-edge", secrets["storelens-edge"])
    time.sleep(0.5)
    event = FootfallEvent(store_id="paris-01", camera_id="door", interval_start="2026-12-01T10:00:00.000Z",
                          interval_end="2026-12-01T10:01:00.000Z", entries=1, unique_visitors=0,
                          vip_arrivals=0)  # fmt: skip
    edge.publish(topic("paris-01", "door", "footfall"), event.model_dump_json(), qos=1).wait_for_publish(5)
    edge.publish(command_topic("paris-01"), b"{}", qos=1).wait_for_publish(5)  # a camera's user forging a command
    edge.publish(topic("paris-01", "_box", "receipt"), b"{}", qos=1).wait_for_publish(5)
    edge.publish(topic("lyon-02", "door", "footfall"), b"{}", qos=1).wait_for_publish(5)  # another store
    api.publish(command_topic("paris-01"), b"{}", qos=1).wait_for_publish(5)  # the API cannot forge one either
    assert wait_until(lambda: "storelens/v1/paris-01/door/footfall" in seen, 10)
    time.sleep(1.0)
    assert seen == ["storelens/v1/paris-01/door/footfall"], seen
    for c in (api, edge):
        c.disconnect()
        c.loop_stop()


def test_the_store_api_logs_in_with_the_configuration(store) -> None:
    config = load_config(store["config"])
    app = ApiApp(config)
    app.start()
    try:
        edge, _ = client(store["port"], "storelens-edge", store["secrets"]["storelens-edge"])
        event = FootfallEvent(store_id="paris-01", camera_id="lounge", interval_start="2026-12-01T10:00:00.000Z",
                              interval_end="2026-12-01T10:01:00.000Z", entries=3, unique_visitors=0,
                              vip_arrivals=0)  # fmt: skip
        edge.publish(topic("paris-01", "lounge", "footfall"), event.model_dump_json(), qos=1).wait_for_publish(5)
        assert wait_until(lambda: app.services.books.events.count() == 1, 15)
        assert config.mqtt.for_edge().username == "storelens-edge" and config.mqtt.for_edge().secret() == store[
            "secrets"]["storelens-edge"]  # fmt: skip
        edge.disconnect()
        edge.loop_stop()
    finally:
        app.stop()
