"""``storelens deploy hq-broker``: the central broker's configuration, run in a real Mosquitto.

Each store's bridge user publishes only its own store's events and box messages and reads only its own commands
(over TLS; stores ``s1`` and ``s10``, whose ids share a prefix), head office reads everything on its loopback
listener, an anonymous client is refused, and a message the broker acknowledged survives a SIGKILL of the broker
(persistence saved after every change).
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers.cli import run_cli
from tests.helpers.services import ServerProcess, free_port, wait_port

HQ_TOML = """id = "hq-1"
[mqtt]
url = "mqtt://127.0.0.1:{local}"
username = "storelens-hq"
[[stores]]
id = "s1"
[[stores]]
id = "s10"
"""


class CentralBroker(ServerProcess):
    def __init__(self, conf: Path, port: int, log: Path) -> None:
        self.conf, self.port, self.log = conf, port, log

    def argv(self) -> list[str]:
        return [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf)]


def client(name: str, port: int, password: str, ca: Path | None, **kw: Any) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, **kw)
    c.username_pw_set(name if not name.startswith("hq") else "storelens-hq", password)
    if ca is not None:
        c.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
    c.connect("127.0.0.1", port, keepalive=10)
    c.loop_start()
    return c


@pytest.fixture
def broker_files(tmp_path: Path) -> dict[str, Any]:
    cert, key = tmp_path / "hq.crt", tmp_path / "hq.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hq",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    tls, local = free_port(), free_port()
    hq = tmp_path / "hq.toml"
    hq.write_text(HQ_TOML.format(local=local))
    out, data = tmp_path / "broker", tmp_path / "data"
    data.mkdir()
    argv = ["deploy", "hq-broker", "--config", str(hq), "--out", str(out), "--cert-file", str(cert),
            "--key-file", str(key), "--ca-file", str(cert), "--port", str(tls), "--local-port", str(local),
            "--data-dir", str(data), "--broker-user", "root"]  # fmt: skip
    proc = run_cli(*argv)
    assert proc.returncode == 0, proc.stderr
    again = run_cli(*argv)  # idempotent: the same passwords
    assert again.returncode == 0, again.stderr
    secrets = {p.stem: p.read_text().strip() for p in (out / "secrets").glob("*.password")}
    return {"out": out, "ca": cert, "tls": tls, "local": local, "secrets": secrets, "log": tmp_path / "broker.log"}


def test_the_central_broker_scopes_each_store_and_loses_nothing_acknowledged(broker_files: dict[str, Any]) -> None:
    out, secrets = broker_files["out"], broker_files["secrets"]
    assert set(secrets) == {"storelens-hq", "store-s1", "store-s10"}
    assert all((out / "secrets" / f"{u}.password").stat().st_mode & 0o077 == 0 for u in secrets)
    hashed = (out / "passwords").read_text()
    assert all(f"{u}:$7$" in hashed for u in secrets) and not any(p in hashed for p in secrets.values())
    central = CentralBroker(out / "mosquitto.conf", broker_files["tls"], broker_files["log"])
    central.start()
    wait_port(broker_files["local"])  # its second listener, head office's
    got: list[tuple[str, dict[str, Any]]] = []
    subscribed = threading.Event()
    try:
        hq = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hq-1", clean_session=False)
        hq.username_pw_set("storelens-hq", secrets["storelens-hq"])
        hq.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
        hq.on_subscribe = lambda *a: subscribed.set()
        hq.connect("127.0.0.1", broker_files["local"])
        hq.loop_start()
        hq.subscribe("storelens/v1/#", qos=1)
        assert subscribed.wait(10)
        paris = client("store-s1", broker_files["tls"], secrets["store-s1"], broker_files["ca"])
        heard: list[str] = []  # what store s1's bridge user receives
        s1_subscribed = threading.Event()
        paris.on_message = lambda c, u, m: heard.append(m.topic)
        paris.on_subscribe = lambda *a: s1_subscribed.set()
        paris.subscribe([("storelens/v1/+/_hq/member", 1), ("storelens/v1/s10/#", 1)])
        assert s1_subscribed.wait(10)
        for store in ("s1", "s10"):  # s1 may not publish under s10's topics (events, box messages) ...
            for name in ("entrance/arrival", "_box/status", "_box/visit"):
                paris.publish(f"storelens/v1/{store}/{name}", json.dumps({"store_id": store}), qos=1).wait_for_publish(
                    10
                )
        paris.publish("storelens/v1/s1/_hq/member", "{}", qos=1).wait_for_publish(10)  # nor head office's
        for store in ("s1", "s10"):  # ... nor read s10's commands, only its own
            hq.publish(f"storelens/v1/{store}/_hq/member", "{}", qos=1).wait_for_publish(10)
        time.sleep(1.0)
        mine = ["storelens/v1/s1/entrance/arrival", "storelens/v1/s1/_box/status", "storelens/v1/s1/_box/visit"]
        assert sorted(t for t, _ in got if "_hq" not in t) == sorted(mine)
        assert heard == ["storelens/v1/s1/_hq/member"]
        # head office offline: what the broker acknowledges to the store survives a SIGKILL of the broker
        hq.disconnect()
        hq.loop_stop()
        paris.publish("storelens/v1/s1/entrance/footfall", json.dumps({"n": 1}), qos=1).wait_for_publish(10)
        time.sleep(1.5)
        central.stop()  # SIGKILL
        paris.loop_stop()
        central.start()
        wait_port(broker_files["local"])
        got.clear()
        hq.reconnect()
        hq.loop_start()
        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [t for t, _ in got] == ["storelens/v1/s1/entrance/footfall"]
        hq.disconnect()
        hq.loop_stop()
        anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anon")
        anonymous.tls_set(ca_certs=str(broker_files["ca"]))
        refused = anonymous.connect("127.0.0.1", broker_files["tls"])
        anonymous.loop(timeout=2)
        assert refused != 0 or not anonymous.is_connected()
    finally:
        central.stop()


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [("--cert-file", "relative/cert.pem", "absolute path"), ("--key-file", "/etc/key\nlistener 1", "absolute path"),
     ("--port", "70000", "less than or equal to 65535")],
)  # fmt: skip
def test_bad_flags_are_one_line(tmp_path: Path, flag: str, value: str, words: str) -> None:
    hq = tmp_path / "hq.toml"
    hq.write_text(HQ_TOML.format(local=1883))
    argv = {"--config": str(hq), "--out": str(tmp_path / "o"), "--cert-file": "/c.pem", "--key-file": "/k.pem"}
    argv[flag] = value
    proc = run_cli("deploy", "hq-broker", *[x for kv in argv.items() for x in kv])
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
