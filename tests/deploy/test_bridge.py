"""Two store brokers bridged to one head-office broker with the configuration ``storelens deploy bridge`` writes.

Real Mosquitto instances on loopback: the central one with passwords and the ACL lines the command wrote;
head office (``HqApp``) stores every store's events exactly once, also across a restart of the central
broker, and a store cannot publish under another store's topic.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from storelens.apps.hq import HqApp
from storelens.clock import iso, utc_now
from storelens.edge_events import ArrivalEvent, FootfallEvent, topic
from tests.helpers.chain import Chain, footfall, publish, wait_until
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml

STORES = ("store-a", "store-b")
pytestmark = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs Debian's mosquitto")


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[dict[str, Any]]:
    stores = {s: {"store": {"id": s}, "cameras": [{"id": "door", "source": "0"}]} for s in STORES}
    built = Chain(tmp_path, stores)
    for store_id in STORES:
        assert built.secrets[store_id] not in built.bridge_output  # the password is never printed
        conf = built.bridge_files[store_id] / "storelens-bridge.conf"
        assert conf.stat().st_mode & 0o077 == 0  # and its file is the owner's alone
    built.start()
    yield {"hq": built.hq, "brokers": built.brokers, "app": built.app, "tmp": tmp_path, "chain": built}
    built.stop()


def wait_for(app: HqApp, count: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and app.events.count() < count:
        time.sleep(0.2)
    time.sleep(0.5)  # and nothing more arrives after
    return app.events.count()


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
    rows = app.events.footfall(iso(utc_now() - timedelta(hours=2)), iso(utc_now() + timedelta(hours=1)))
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
    secret = chain["chain"].secrets["store-a"]
    name, event = footfall("store-b", 5, entries=99)
    publish(hq.port, [(name, event)], user="store-store-a", password=secret)  # the broker's ACL drops it
    _, lying = footfall("store-b", 6, entries=98)  # under its own topic, but saying it is store-b
    publish(hq.port, [(topic("store-a", "door", "footfall"), lying)], user="store-store-a", password=secret)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and app.ingest.rejected == 0:
        time.sleep(0.1)
    assert app.events.count() == 0  # neither reached the database
    assert app.ingest.rejected == 1  # the second was refused by head office: its payload names another store


def bridge_check(config: Path) -> dict[str, Any]:
    proc = run_cli("doctor", "--json", "--config", str(config))
    return {row["check"]: row for row in map(json.loads, proc.stdout.splitlines())}["bridge"]


def test_doctor_says_whether_the_bridge_to_head_office_is_up(chain) -> None:
    config = chain["chain"].store_configs["store-a"]
    up = bridge_check(config)
    assert up["ok"] and "store-a connected" in up["detail"] and "message(s)" in up["detail"], up
    chain["hq"].stop()  # the central broker goes away: the bridge is down, the store broker keeps the messages
    down = wait_until(lambda: (c := bridge_check(config)) and not c["ok"] and c, seconds=30)
    assert down and "store-a down" in down["detail"] and "holds" in down["detail"] and down["fix"], down


def test_the_bridge_installs_into_a_mosquitto_run_without_systemd(tmp_path: Path) -> None:
    from tests.helpers.services import ServerProcess, free_port

    config = write_toml(tmp_path / "store.toml", {"store": {"id": "store-a"}, "cameras": [{"id": "d", "source": "0"}]})
    secret = tmp_path / "bridge.pw"
    secret.write_text("s3cret-bridge\n")
    conf_d = tmp_path / "conf.d"
    hq_url = f"mqtt://127.0.0.1:{free_port()}"
    done = run_cli("deploy", "bridge", "--config", str(config), "--hq-url", hq_url, "--password-file", str(secret),
                   "--out", str(tmp_path / "out"), "--install-into", str(conf_d))  # fmt: skip
    assert done.returncode == 0, done.stderr
    installed = conf_d / "storelens-bridge.conf"
    assert installed.read_text() == (tmp_path / "out" / "storelens-bridge.conf").read_text()
    assert installed.stat().st_mode & 0o777 == 0o640 and f"include_dir {conf_d}" in done.stderr
    assert "s3cret-bridge" not in done.stdout + done.stderr

    class StoreBroker(ServerProcess):  # the store's Mosquitto, its own configuration naming the drop-in folder
        def __init__(self) -> None:
            self.port, self.log = free_port(), tmp_path / "mosquitto.log"
            (tmp_path / "mosquitto.conf").write_text(
                f"user root\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
                f"persistence_location {tmp_path}/\ninclude_dir {conf_d}\n"
            )

        def argv(self) -> list[str]:
            return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(tmp_path / "mosquitto.conf")]

    broker = StoreBroker().start()  # it accepts the installed bridge: it listens
    try:
        time.sleep(1.0)
        assert (
            "connection storelens-hq-store-a" in (tmp_path / "mosquitto.log").read_text() or broker.proc.poll() is None
        )
    finally:
        broker.stop()
