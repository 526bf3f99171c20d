"""MQTT with username/password and with TLS, against a real Mosquitto configured for each."""

from __future__ import annotations

import getpass
import subprocess
import time
from pathlib import Path

import pytest

from storelens.config import MqttConfig
from storelens.edge.outbox import Outbox
from storelens.edge.publisher import CameraPublisher, camera_transport
from storelens.edge_events import ArrivalEvent, topic
from storelens.errors import ConfigError
from storelens.transport.mqtt import parse_url
from tests.helpers.services import free_port, wait_port


def start_broker(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    # Mosquitto started as root drops to the "mosquitto" user, which cannot read the test's files.
    conf.write_text(f"user {getpass.getuser()}\n" + conf.read_text())
    with log.open("ab") as out:
        return subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=out, stderr=out)


def deliver_one(tmp_path: Path, config: MqttConfig, timeout: float = 15) -> int:
    """Queue one event and pump until the broker acknowledges it; returns the outbox depth left."""
    outbox = Outbox(tmp_path / f"o-{time.monotonic_ns()}.sqlite")
    ev = ArrivalEvent(store_id="s", camera_id="c", member_id="m", similarity=0.95, track_id=1)
    outbox.put(ev.event_id, "c", topic("s", "c", "arrival"), ev.model_dump_json().encode())
    pub = CameraPublisher(outbox, camera_transport(config, "s", "c"), "s", "c")
    pub.start()
    deadline = time.monotonic() + timeout
    while outbox.depth() and time.monotonic() < deadline:
        pub.pump()
        time.sleep(0.05)
    left = outbox.depth()
    pub.stop()
    return left


def test_username_and_password(tmp_path: Path) -> None:
    port = free_port()
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "edge", "s3cret"], check=True)
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n")
    broker = start_broker(conf, tmp_path / "m.log")
    try:
        wait_port(port)
        url = f"mqtt://127.0.0.1:{port}"
        assert deliver_one(tmp_path, MqttConfig(url=url, username="edge", password="s3cret")) == 0
        assert deliver_one(tmp_path, MqttConfig(url=url, username="edge", password="wrong"), timeout=3) == 1
    finally:
        broker.kill()
        broker.wait()


def make_certs(d: Path) -> None:
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=StoreLens Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.crt")  # fmt: skip


def test_tls(tmp_path: Path) -> None:
    make_certs(tmp_path)
    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {tmp_path / 'ca.crt'}\n"
        f"certfile {tmp_path / 'server.crt'}\nkeyfile {tmp_path / 'server.key'}\n"
    )
    broker = start_broker(conf, tmp_path / "m.log")
    try:
        wait_port(port)
        good = MqttConfig(url=f"mqtts://127.0.0.1:{port}", ca_file=str(tmp_path / "ca.crt"))
        assert deliver_one(tmp_path, good) == 0
        plain = MqttConfig(url=f"mqtt://127.0.0.1:{port}")  # no TLS against a TLS listener: nothing delivered
        assert deliver_one(tmp_path, plain, timeout=3) == 1
    finally:
        broker.kill()
        broker.wait()


@pytest.mark.parametrize(
    ("url", "host", "port", "tls"),
    [("mqtt://broker.local", "broker.local", 1883, False), ("mqtts://10.0.0.2:9883", "10.0.0.2", 9883, True)],
)
def test_parse_url(url: str, host: str, port: int, tls: bool) -> None:
    b = parse_url(url)
    assert (b.host, b.port, b.tls) == (host, port, tls)


def test_bad_url() -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.url"):
        parse_url("http://x")
