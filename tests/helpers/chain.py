"""A chain on loopback: a central Mosquitto with passwords and ACLs, store Mosquittos bridged to it with the
files ``storelens deploy bridge`` writes, and head office (``HqApp``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storelens.apps.hq import HqApp
from storelens.clock import iso, utc_now
from storelens.config import HqConfig
from storelens.edge_events import FootfallEvent, topic
from storelens.hq.keys import HqKeys
from storelens.manifest import load_manifest
from tests.helpers.cli import run_cli
from tests.helpers.configs import write_toml
from tests.helpers.services import ServerProcess, free_port

HQ_USER = "storelens-hq"
SPEC = load_manifest().recogniser_of("default")
RNG = np.random.default_rng(7)


def unit(k: int) -> np.ndarray:
    """K random unit vectors of the default recogniser's size."""
    v = RNG.normal(size=(k, int(SPEC.embedding_size or 0))).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


SETS = {1: unit(2), 2: unit(3), 3: unit(1), 4: unit(2)}  # the vectors a member change of each version carries


class Broker(ServerProcess):
    """A Mosquitto with a configuration of our own; stopped gracefully, so that it saves its sessions."""

    def __init__(self, workdir: Path, name: str, extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        data = workdir / f"{name}-data"
        data.mkdir(exist_ok=True)
        self.url = f"mqtt://127.0.0.1:{self.port}"
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


class Chain:
    """Central broker, bridged store brokers and head office, in ``workdir``.

    Args:
        workdir: where every file goes.
        stores: store id -> that store's configuration dict (its ``mqtt`` is set here, to its own broker).
        chase_seconds: head office resends unconfirmed changes after this long.
    """

    def __init__(self, workdir: Path, stores: dict[str, dict[str, Any]], chase_seconds: float = 1.0) -> None:
        self.tmp = workdir
        self.hq_keys = HqKeys(workdir / "hq-keys.json")  # head office's signing key: every box trusts it
        self.box_keys: dict[str, str] = {}
        self.hq_password = "hq-" + uuid.uuid4().hex[:8]
        self.hq_port = free_port()
        self.passwords = workdir / "hq.passwd"
        passwd(self.passwords, HQ_USER, self.hq_password)
        acl = [f"user {HQ_USER}", "topic readwrite storelens/v1/#", ""]
        self.store_configs: dict[str, Path] = {}
        self.secrets: dict[str, str] = {}
        self.brokers: dict[str, Broker] = {}
        bridges: dict[str, str] = {}
        for store_id, data in stores.items():
            port = free_port()
            data = {
                "gallery": {"dir": str(workdir / store_id / "gallery")},
                "chain": {"key_file": str(workdir / f"{store_id}-box.key")},
                **data,
                "mqtt": {"url": f"mqtt://127.0.0.1:{port}"},
            }
            cfg = write_toml(workdir / f"{store_id}.toml", data)
            self.store_configs[store_id] = cfg
            secret = workdir / f"{store_id}.pw"
            self.secrets[store_id] = f"pw-{store_id}-{uuid.uuid4().hex[:6]}"
            secret.write_text(self.secrets[store_id] + "\n")
            out = workdir / f"{store_id}-bridge"
            done = run_cli("deploy", "bridge", "--config", str(cfg), "--hq-url", f"mqtt://127.0.0.1:{self.hq_port}",
                           "--password-file", str(secret), "--out", str(out),
                           "--hq-public-key", self.hq_keys.current.public)  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(done.stderr)
            self.box_keys[store_id] = (out / f"box-key-{store_id}.pub").read_text().strip()
            self.bridge_output = done.stdout + done.stderr
            passwd(self.passwords, f"store-{store_id}", self.secrets[store_id])
            acl.append((out / f"hq-acl-{store_id}.conf").read_text())
            bridges[store_id] = (out / "storelens-bridge.conf").read_text()
            self.brokers[store_id] = Broker(workdir, store_id, "allow_anonymous true\n" + bridges[store_id], port)
        self.bridge_files = {s: workdir / f"{s}-bridge" for s in stores}
        (workdir / "hq.acl").write_text("\n".join(acl))
        auth = f"allow_anonymous false\npassword_file {self.passwords}\nacl_file {workdir / 'hq.acl'}\npersistence true"
        self.hq = Broker(workdir, "hq", auth, port=self.hq_port)
        self.hq_data = {
            "database_url": f"sqlite:///{workdir / 'hq.sqlite'}",
            "chase_seconds": chase_seconds,
            "stores": [{"id": s} for s in stores],
            "mqtt": {"url": self.hq.url, "username": HQ_USER, "password": self.hq_password},
            "api": {"port": free_port()},
            "signing_keys_file": str(self.hq_keys.path),
        }
        self.hq_toml = write_toml(workdir / "hq.toml", self.hq_data)
        for store_id, public in self.box_keys.items():  # the boxes join: head office learns their receipt keys
            done = run_cli("hq", "box-key", "--config", str(self.hq_toml), "--store", store_id, "--public-key", public)
            if done.returncode != 0:
                raise RuntimeError(done.stderr)
        self.app: HqApp | None = None

    def start(self) -> Chain:
        self.hq.start()
        for broker in self.brokers.values():
            broker.start()
        self.app = HqApp(HqConfig.model_validate(self.hq_data))
        if not self.app.start(15):
            raise RuntimeError("head office did not subscribe")
        return self

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop()
            self.app = None
        for broker in self.brokers.values():
            broker.stop()
        self.hq.stop()


def wait_until(check: Callable[[], Any], seconds: float = 30, step: float = 0.2) -> Any:
    """Poll ``check`` until it returns something true; returns its last value."""
    deadline = time.monotonic() + seconds
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = check()
    return value


def publish(port: int, events: list[tuple[str, Any]], user: str | None = None, password: str | None = None) -> None:
    """Publish events (models, or payloads as bytes) at QoS 1 as a plain MQTT client.

    A broker that closes the connection (a refused publish on RabbitMQ) ends the batch.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    if user:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for name, event in events:
        info = client.publish(name, event if isinstance(event, bytes) else event.model_dump_json(), qos=1)
        try:
            info.wait_for_publish(5)
        except (RuntimeError, ValueError):
            break
    client.loop_stop()
    client.disconnect()


def footfall(store_id: str, minutes_ago: int, entries: int) -> tuple[str, FootfallEvent]:
    """A one-minute footfall event of camera ``door`` that began ``minutes_ago``, and its topic."""
    start = (utc_now() - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
    event = FootfallEvent(store_id=store_id, camera_id="door", interval_start=iso(start),
                          interval_end=iso(start + timedelta(minutes=1)), entries=entries, unique_visitors=0,
                          vip_arrivals=0)  # fmt: skip
    return topic(store_id, "door", "footfall"), event
