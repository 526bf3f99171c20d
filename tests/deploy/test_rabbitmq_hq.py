"""RabbitMQ's MQTT plugin as the central broker: the contract is broker-neutral.

A RabbitMQ node of the test's own (Debian's package, MQTT plugin), two store Mosquittos bridged to it with the
files ``storelens deploy bridge --hq-broker rabbitmq`` writes (the store users' permissions set by the
rabbitmqctl script it writes), head office on it: every store event stored once, a member change down to a
box and its receipt back, and a store that publishes under another store's topic refused by RabbitMQ's
topic permissions and by head office.
"""

from __future__ import annotations

import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from storelens.apps.api import ApiApp
from storelens.apps.hq import HqApp
from storelens.chain_messages import command_topic
from storelens.clock import iso, utc_now
from storelens.config import HqConfig, load_config
from storelens.edge_events import topic
from storelens.hq.keys import HqKeys
from storelens.members import Consent, MemberInfo
from tests.helpers.chain import SETS, SPEC, Broker, footfall, publish, wait_until
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml
from tests.helpers.rabbitmq import RabbitMq, available
from tests.helpers.services import free_port

STORES = ("s1", "s10")  # ids that share a prefix: neither user gains anything of the other store
pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's rabbitmq-server")


def test_rabbitmq_as_the_central_broker(tmp_path: Path) -> None:
    rabbit = RabbitMq(tmp_path).start()
    brokers: dict[str, Broker] = {}
    apps: list[ApiApp] = []
    hq: HqApp | None = None
    try:
        # the central broker's users as `deploy hq-broker --broker rabbitmq` writes them: head office's, and each
        # store's (whose password `deploy bridge`'s own script sets again below)
        hq_toml = write_toml(tmp_path / "hq.toml", {"mqtt": {"username": "storelens-hq"},
                                                    "stores": [{"id": s} for s in STORES]})  # fmt: skip
        central = tmp_path / "central"
        made = run_cli("deploy", "hq-broker", "--config", str(hq_toml), "--out", str(central), "--broker", "rabbitmq",
                       "--cert-file", "/etc/ssl/hq.crt", "--key-file", "/etc/ssl/hq.key")  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert "mqtt.listeners.ssl.default = 8883" in (central / "rabbitmq.conf").read_text()
        setup = rabbit.run_script(central / "rabbitmq-setup.sh")
        assert setup.returncode == 0, setup.stdout + setup.stderr
        hq_password = (central / "secrets" / "storelens-hq.password").read_text().strip()
        users = rabbit.ctl("list_users").stdout
        assert all(u in users for u in ("storelens-hq", "store-s1", "store-s10"))
        secrets = {}
        hq_keys = HqKeys(tmp_path / "hq-keys.json")
        box_keys = {}
        for store_id in STORES:
            data = {"store": {"id": store_id}, "cameras": [{"id": "door", "source": "0"}],
                    "gallery": {"dir": str(tmp_path / store_id / "gallery")},
                    "chain": {"key_file": str(tmp_path / f"{store_id}.key")},
                    "api": {"port": free_port(), "database_url": f"sqlite:///{tmp_path / (store_id + '.sqlite')}"},
                    "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"}}  # fmt: skip
            cfg = write_toml(tmp_path / f"{store_id}.toml", data)
            secret = tmp_path / f"{store_id}.pw"
            secrets[store_id] = f"pw-{uuid.uuid4().hex[:8]}"
            secret.write_text(secrets[store_id] + "\n")
            out = tmp_path / f"{store_id}-bridge"
            done = run_cli("deploy", "bridge", "--config", str(cfg), "--hq-url", rabbit.url, "--password-file",
                           str(secret), "--out", str(out), "--hq-broker", "rabbitmq",
                           "--hq-public-key", hq_keys.current.public)  # fmt: skip
            assert done.returncode == 0, done.stderr
            box_keys[store_id] = (out / f"box-key-{store_id}.pub").read_text().strip()
            granted = rabbit.run_script(out / f"hq-rabbitmq-{store_id}.sh", str(secret))
            assert granted.returncode == 0, granted.stderr
            port = int(data["mqtt"]["url"].rsplit(":", 1)[1])
            conf = (out / "storelens-bridge.conf").read_text()
            brokers[store_id] = Broker(tmp_path, store_id, "allow_anonymous true\n" + conf, port).start()
            apps.append(ApiApp(load_config(cfg)))
            apps[-1].start()
        hq = HqApp(HqConfig.model_validate({
            "database_url": f"sqlite:///{tmp_path / 'hq.sqlite'}", "chase_seconds": 1.0, "api": {"enabled": False},
            "mqtt": {"url": rabbit.url, "username": "storelens-hq", "password": hq_password},
            "signing_keys_file": str(hq_keys.path)}))  # fmt: skip
        for store_id, public in box_keys.items():
            hq.members.register_box(store_id, public)
        assert hq.start(20)

        for i, store_id in enumerate(STORES):
            publish(brokers[store_id].port, [footfall(store_id, 30 - k, entries=k + i) for k in range(15)])
        assert wait_until(lambda: hq.events.count() >= 30, 60)
        rows = hq.events.footfall(iso(utc_now() - timedelta(hours=1)), iso(utc_now() + timedelta(hours=1)))
        assert {s: sum(r["entries"] for r in rows if r["store_id"] == s) for s in STORES} == {
            "s1": sum(range(15)), "s10": sum(range(1, 16))}  # fmt: skip
        assert hq.events.count() == 30

        # a member change down to s1's box and its receipt back, through RabbitMQ
        consent = Consent(reference="CF-R", notice_version="1", purpose="vip-recognition")
        hq.members.enrol(MemberInfo(member_id="M-R"), consent, SPEC.name, SETS[1], "home", "s1", [], [])
        assert wait_until(lambda: hq.members.members()[0]["stores"]["s1"]["state"] == "confirmed", 60)
        assert [len(a.services.gallery().templates.member_vectors("M-R")[0]) for a in apps] == [2, 0]

        # s1's user may not publish under s10's topic (RabbitMQ's topic permissions) ...
        publish(rabbit.port, [footfall("s10", 5, entries=99)], "store-s1", secrets["s1"])
        # ... and what it says under its own topic in s10's name is refused by head office
        _, lying = footfall("s10", 6, entries=98)
        publish(rabbit.port, [(topic("s1", "door", "footfall"), lying)], "store-s1", secrets["s1"])
        assert wait_until(lambda: hq.ingest.rejected == 1, 15)
        assert hq.events.count() == 30
        assert "access_refused" in (rabbit.home / "log").joinpath(f"{rabbit.node}.log").read_text()

        # s1's user, posing as s10's bridge (its client id, its persistent session) or subscribing to s10's commands
        # itself, reads none of them: the session queues' permissions are anchored, so s1's do not cover s10's
        heard: list[str] = []
        spies = []
        for client_id in ("storelens-bridge-s10", "storelens-bridge-s1"):
            spy = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
            spy.username_pw_set("store-s1", secrets["s1"])
            spy.on_message = lambda c, u, m: heard.append(m.topic)
            spy.on_connect = lambda c, u, f, rc, p: c.subscribe(command_topic("s10"), qos=1)
            spy.connect("127.0.0.1", rabbit.port)
            spy.loop_start()
            spies.append(spy)
        hq.members.enrol(MemberInfo(member_id="M-S"), consent, SPEC.name, SETS[1], "home", "s10", [], [])
        time.sleep(4)  # head office sends it to s10 every second meanwhile
        for spy in spies:
            spy.loop_stop()
            spy.disconnect()
        assert heard == []
    finally:
        if hq is not None:
            hq.stop()
        for app in apps:
            app.stop()
        for b in brokers.values():
            b.stop()
        rabbit.stop()
        shutil.rmtree(rabbit.home / "mnesia", ignore_errors=True)
