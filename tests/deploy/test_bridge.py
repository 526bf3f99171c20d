"""Two store brokers bridged to one head-office broker with the configuration ``storelens deploy bridge`` writes.

Real Mosquitto instances on loopback: the central one with passwords and the ACL lines the command wrote;
head office (``HqApp``) stores every store's events exactly once, also across a restart of the central
broker, and a store cannot publish under another store's topic.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from storelens.apps.hq import HqApp
from storelens.clock import iso, utc_now
from storelens.config import HqConfig
from storelens.events import ArrivalEvent, FootfallEvent, topic
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml
from tests.helpers.services import ServerProcess, free_port

STORES = ("store-a", "store-b")
HQ_USER, HQ_PASSWORD = "storelens-hq", "hq-" + uuid.uuid4().hex[:8]
pytestmark = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs Debian's mosquitto")


class Broker(ServerProcess):
    """A Mosquitto with a configuration of our own; stopped gracefully, so that it saves its sessions."""

    def __init__(self, workdir: Path, name: str, extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        data = workdir / f"{name}-data"
        data.mkdir()
        self.conf = workdir / f"{name}.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\npersistence_location {data}/\nautosave_interval 1\n{extra}\n"
            + ("user root\n" if os.geteuid() == 0 else "")  # as root it would become `mosquitto`: our files are 0700
        )
        self.log = workdir / f"{name}.log"

    def argv(self) -> list[str]:
        return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf)]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        super().stop()


def passwd(path: Path, user: str, password: str) -> None:
    flags = ["-b"] if path.exists() else ["-c", "-b"]
    subprocess.run(["mosquitto_passwd", *flags, str(path), user, password], check=True, capture_output=True)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, Any]]:
    hq_port = free_port()
    acl = [f"user {HQ_USER}", "topic read storelens/v1/#", ""]
    passwords = tmp_path / "hq.passwd"
    passwd(passwords, HQ_USER, HQ_PASSWORD)
    stores = {}
    for store_id in STORES:
        data = {"store": {"id": store_id}, "cameras": [{"id": "door", "source": "0"}]}
        cfg = write_toml(tmp_path / f"{store_id}.toml", data)
        secret = tmp_path / f"{store_id}.pw"
        secret.write_text(f"pw-{store_id}-{uuid.uuid4().hex[:6]}\n")
        out = tmp_path / f"{store_id}-bridge"
        done = run_cli("deploy", "bridge", "--config", str(cfg), "--hq-url", f"mqtt://127.0.0.1:{hq_port}",
                       "--password-file", str(secret), "--out", str(out))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert secret.read_text().strip() not in done.stdout + done.stderr  # the password is never printed
        assert (out / "storelens-bridge.conf").stat().st_mode & 0o077 == 0  # and its file is the owner's alone
        passwd(passwords, f"store-{store_id}", secret.read_text().strip())
        acl.append((out / f"hq-acl-{store_id}.conf").read_text())
        stores[store_id] = (out / "storelens-bridge.conf").read_text()
    (tmp_path / "hq.acl").write_text("\n".join(acl))
    auth = f"allow_anonymous false\npassword_file {passwords}\nacl_file {tmp_path / 'hq.acl'}\npersistence true"
    hq = Broker(tmp_path, "hq", auth, port=hq_port).start()
    brokers = {s: Broker(tmp_path, s, "allow_anonymous true\n" + text).start() for s, text in stores.items()}
    app = HqApp(HqConfig(database_url=f"sqlite:///{tmp_path / 'hq.sqlite'}",
                         mqtt={"url": f"mqtt://127.0.0.1:{hq_port}", "username": HQ_USER,
                               "password": HQ_PASSWORD}))  # fmt: skip
    assert app.start(15)
    yield {"hq": hq, "brokers": brokers, "app": app, "passwords": passwords, "tmp": tmp_path}
    app.stop()
    for b in brokers.values():
        b.stop()
    hq.stop()


def publish(port: int, events: list[tuple[str, Any]], user: str | None = None, password: str | None = None) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    if user:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for name, event in events:
        client.publish(name, event.model_dump_json(), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def footfall(store_id: str, minutes_ago: int, entries: int) -> tuple[str, FootfallEvent]:
    start = (utc_now() - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
    event = FootfallEvent(store_id=store_id, camera_id="door", interval_start=iso(start),
                          interval_end=iso(start + timedelta(minutes=1)), entries=entries, unique_visitors=0,
                          vip_arrivals=0)  # fmt: skip
    return topic(store_id, "door", "footfall"), event


def wait_for(app: HqApp, count: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and app.store.count() < count:
        time.sleep(0.2)
    time.sleep(0.5)  # and nothing more arrives after
    return app.store.count()


def test_every_store_event_reaches_head_office_once_across_an_outage(chain) -> None:
    app, hq, brokers = chain["app"], chain["hq"], chain["brokers"]
    sent: dict[str, int] = {}
    for i, store_id in enumerate(STORES):
        batch = [footfall(store_id, 60 - k, entries=k + i) for k in range(20)]
        arrival = ArrivalEvent(store_id=store_id, camera_id="door", member_id="M-1", similarity=0.9, track_id=1)
        batch.append((topic(store_id, "door", "arrival"), arrival))
        publish(brokers[store_id].port, batch)
        sent[store_id] = sum(e.entries for _, e in batch if isinstance(e, FootfallEvent))
    assert wait_for(app, 42) == 42
    hq.stop()  # the head-office link is cut: the store brokers queue (cleansession false, persistence)
    for store_id in STORES:
        batch = [footfall(store_id, 30 - k, entries=1) for k in range(10)]
        publish(brokers[store_id].port, batch)
        sent[store_id] += 10
    time.sleep(2)
    hq.start()
    assert wait_for(app, 62, seconds=60) == 62  # nothing lost, nothing twice
    rows = app.store.footfall(iso(utc_now() - timedelta(hours=2)), iso(utc_now() + timedelta(hours=1)))
    per_store = {s: sum(r["entries"] for r in rows if r["store_id"] == s) for s in STORES}
    assert per_store == sent
    assert app.ingest.rejected == 0
    hq_toml = write_toml(chain["tmp"] / "hq.toml", {"database_url": f"sqlite:///{chain['tmp'] / 'hq.sqlite'}"})
    day = utc_now().date()
    report = run_cli("hq", "report", "--config", str(hq_toml), "--from", str(day - timedelta(days=1)),
                     "--to", str(day + timedelta(days=1)), "--format", "json")  # fmt: skip
    assert report.returncode == 0, report.stderr
    chain_rows = json.loads(report.stdout)
    assert {s: sum(r["entries"] for r in chain_rows if r["store_id"] == s) for s in STORES} == sent


def test_a_store_cannot_publish_under_another_stores_topic(chain) -> None:
    app, hq = chain["app"], chain["hq"]
    secret = (chain["tmp"] / "store-a.pw").read_text().strip()
    name, event = footfall("store-b", 5, entries=99)
    publish(hq.port, [(name, event)], user="store-store-a", password=secret)  # the broker's ACL drops it
    _, lying = footfall("store-b", 6, entries=98)  # under its own topic, but saying it is store-b
    publish(hq.port, [(topic("store-a", "door", "footfall"), lying)], user="store-store-a", password=secret)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and app.ingest.rejected == 0:
        time.sleep(0.1)
    assert app.store.count() == 0  # neither reached the database
    assert app.ingest.rejected == 1  # the second was refused by head office: its payload names another store
