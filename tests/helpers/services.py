"""Real services for tests, started on free loopback ports and stopped afterwards."""

from __future__ import annotations

import atexit
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storelens.books.local_postgres import LocalPostgres
from storelens.transport.local import free_port

HERE = Path(__file__).resolve().parent
__all__ = ["Collector", "Mosquitto", "Postgres", "RtspServer", "ServerProcess", "free_port", "wait_port"]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


_RUNNING: set[ServerProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    """A test that fails before its own clean-up must not leave a server running after the session."""
    for server in list(_RUNNING):
        server.stop()


class ServerProcess:
    """A server run as a child process on ``self.port``: started, killed, and started again on the same port."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    start_timeout = 10.0
    env: dict[str, str] | None = None  # the child's environment (None: ours)

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Any:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, env=self.env)
        _RUNNING.add(self)
        wait_port(self.port, self.start_timeout)
        return self

    def stop(self) -> None:
        _RUNNING.discard(self)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class Mosquitto(ServerProcess):
    """A Mosquitto broker on its own port; can be stopped and started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.binary = binary
        self.port = free_port()
        self.conf = workdir / f"mosquitto-{self.port}.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.log = workdir / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [self.binary, "-c", str(self.conf)]


class Collector:
    """Subscribes to every StoreLens topic and keeps what arrives (with duplicates)."""

    def __init__(self, port: int, pattern: str = "storelens/#") -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"collector-{port}-{time.monotonic_ns()}", clean_session=False
        )
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(pattern, qos=1)
        self.client.on_subscribe = lambda c, u, mid, reasons, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        # what is published before the broker has the subscription would never reach us
        if not self.subscribed.wait(15):
            self.stop()
            raise TimeoutError(f"the test collector could not subscribe on 127.0.0.1:{port}")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Events (not status), deduplicated by event_id, in arrival order."""
        seen: set[str] = set()
        out = []
        with self.lock:
            for topic, payload in self.messages:
                if topic.endswith("/status") or payload.get("event_id") in seen:
                    continue
                seen.add(payload["event_id"])
                if kind is None or payload["type"] == kind:
                    out.append(payload)
        return out

    def statuses(self) -> list[str]:
        with self.lock:
            return [p["state"] for t, p in self.messages if t.endswith("/status")]

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return bool(predicate(self))

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class RtspServer(ServerProcess):
    """GStreamer's RTSP server (Debian's Python and GObject bindings) serving a video at /cam."""

    def __init__(self, video: Path, workdir: Path, port: int | None = None) -> None:
        self.video = video
        self.port = port or free_port()
        self.log = workdir / f"rtsp-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    start_timeout = 120.0  # the first start encodes the video to H.264 once (tests/helpers/rtsp_server.py)

    def argv(self) -> list[str]:
        return ["/usr/bin/python3", str(HERE / "rtsp_server.py"), str(self.port), str(self.video)]


class Postgres(LocalPostgres):
    """A PostgreSQL server of the test's own (storelens.books.local_postgres.LocalPostgres)."""
