"""Local brokers: an MQTT broker for the demo, benchmarks and tests, and a RabbitMQ node of its own.

The MQTT broker is Mosquitto when installed, otherwise amqtt inside this process (the ``[demo]`` extra).

Production stores run Mosquitto as a service; this only serves ``storelens demo``, ``storelens bench`` and a
fresh laptop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from storelens.errors import BrokerError
from storelens.extras import require_extra

log = logging.getLogger(__name__)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def mosquitto_binary() -> str | None:
    """Mosquitto's binary, when installed (Debian puts it in /usr/sbin, often off a user's PATH)."""
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


class LocalBroker:
    """A broker on a free loopback port.

    Args:
        prefer_mosquitto: use Mosquitto when its binary is installed.
    """

    def __init__(self, prefer_mosquitto: bool = True, extra: str = "", secured: bool = False) -> None:
        self.extra = extra  # more Mosquitto configuration lines
        self.secured = secured  # extra holds the authentication: no anonymous client, no listener of its own
        self.port = free_port()
        self.kind = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self.prefer_mosquitto = prefer_mosquitto

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> LocalBroker:
        """Start it; raises :class:`BrokerError` when neither broker can run."""
        binary = mosquitto_binary()
        if self.prefer_mosquitto and binary:
            self._tmp = tempfile.TemporaryDirectory(prefix="storelens-mosquitto-")
            conf = Path(self._tmp.name) / "mosquitto.conf"
            # secured: its files are the invoking user's, so the broker stays that user (as root it would drop to
            # `mosquitto`, who cannot read them under a home folder)
            opened = f"user {pwd.getpwuid(os.geteuid()).pw_name}\n" if self.secured else (
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")  # fmt: skip
            conf.write_text(f"{opened}persistence false\n{self.extra}\n")
            # its own session: Ctrl-C in the terminal reaches the demo, which stops the broker last
            self._proc = subprocess.Popen(
                [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            )
            if _wait(self.port, 10):
                self.kind = "mosquitto"
                return self
            self.stop()
        self._start_amqtt()
        self.kind = "amqtt (embedded)"
        return self

    def _start_amqtt(self) -> None:
        require_extra("demo", "a broker without Mosquitto (Debian: mosquitto)")
        from amqtt.broker import Broker

        ready = threading.Event()
        failure: list[BaseException] = []
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._broker = Broker(config, loop=loop)
                loop.run_until_complete(self._broker.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        ready.wait(15)
        if failure or not _wait(self.port, 10):
            raise BrokerError(f"cannot start an embedded MQTT broker on 127.0.0.1:{self.port}: {failure[:1]}")

    def stop(self) -> None:
        """Stop it."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self._loop is not None and self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                future.result(10)
            except Exception:  # shutting down anyway
                log.debug("amqtt shutdown raised", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            self._loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # Debian's scripts that run as the caller (/usr/sbin's switch user)


class LocalRabbitMq:
    """A RabbitMQ node of its own with the MQTT plugin, on free loopback ports (about 20 s to start).

    For the benchmark and the tests (Debian's ``rabbitmq-server``); a chain runs RabbitMQ as a service
    (``storelens deploy hq-broker --broker rabbitmq``). Its node name, cookie, data and logs live in ``workdir``.
    """

    start_timeout = 90.0

    def __init__(self, workdir: Path) -> None:
        self.home = workdir / "rabbitmq"
        (self.home / "mnesia").mkdir(parents=True)
        (self.home / "log").mkdir()
        self.port = free_port()  # MQTT
        amqp, dist = free_port(), free_port()
        self.amqp_url = f"amqp://127.0.0.1:{amqp}/"
        self.node = f"storelens-{self.port}@localhost"
        (self.home / "rabbit.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{amqp}\nmqtt.listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = false\nloopback_users = none\n"
        )
        (self.home / "plugins").write_text("[rabbitmq_mqtt].\n")
        self.env = {
            **os.environ,
            "HOME": str(self.home),  # the Erlang cookie
            "PATH": f"{RABBIT_BIN}:{os.environ.get('PATH', '')}",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbit"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_PID_FILE": str(self.home / "pid"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.home / "feature_flags"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.home / "plugins-expand"),
        }
        self.log = workdir / "rabbitmq.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether Debian's rabbitmq-server (and Erlang's epmd) are installed."""
        return (RABBIT_BIN / "rabbitmq-server").is_file() and shutil.which("epmd") is not None

    @property
    def url(self) -> str:
        """Its MQTT listener."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> LocalRabbitMq:
        """Start the node; raises :class:`BrokerError` when it does not listen within ``start_timeout``."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], stdout=out, stderr=out, env=self.env)
        if not _wait(self.port, self.start_timeout):
            self.stop()
            raise BrokerError(f"RabbitMQ did not listen on 127.0.0.1:{self.port} (its log: {self.log})")
        return self

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``rabbitmqctl`` against this node."""
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), *args], env=self.env, capture_output=True, text=True, check=True
        )

    def add_user(self, user: str, password: str) -> None:
        """A user with every permission on the default virtual host (head office's, or a publisher's)."""
        self.ctl("add_user", user, password)
        self.ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")

    def queue_depth(self, name: str) -> tuple[int, int]:
        """(ready, unacknowledged) messages of a queue.

        Raises:
            KeyError: no such queue.
        """
        rows = self.ctl("list_queues", "-q", "name", "messages_ready", "messages_unacknowledged").stdout
        for line in rows.splitlines():
            parts = line.split()
            if parts and parts[0] == name:
                return int(parts[1]), int(parts[2])
        raise KeyError(name)

    def stop(self) -> None:
        """Stop the node (``rabbitmqctl stop``, killed if it lingers)."""
        if self.proc is not None:
            subprocess.run(
                [str(RABBIT_BIN / "rabbitmqctl"), "stop"], env=self.env, capture_output=True, check=False, timeout=60
            )
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None
