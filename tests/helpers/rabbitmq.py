"""A RabbitMQ node of the test's own with its MQTT plugin, on free loopback ports (about 20 s to start)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers.services import ServerProcess, free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # Debian's scripts that run as the caller (/usr/sbin's switch user)


def available() -> bool:
    return (RABBIT_BIN / "rabbitmq-server").is_file() and shutil.which("epmd") is not None


class RabbitMq(ServerProcess):
    """rabbitmq-server with the MQTT plugin; its node name, cookie, data and logs in ``workdir``."""

    start_timeout = 90.0

    def __init__(self, workdir: Path) -> None:
        self.home = workdir / "rabbitmq"
        (self.home / "mnesia").mkdir(parents=True)
        (self.home / "log").mkdir()
        self.port = free_port()  # MQTT
        amqp, dist = free_port(), free_port()
        self.node = f"storelens-test-{self.port}@localhost"
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
        self.url = f"mqtt://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [str(RABBIT_BIN / "rabbitmq-server")]

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``rabbitmqctl`` against this node."""
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), *args], env=self.env, capture_output=True, text=True, check=True
        )

    def run_script(self, script: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """A shell script whose ``rabbitmqctl`` reaches this node."""
        return subprocess.run(["sh", str(script), *args], env=self.env, capture_output=True, text=True, check=False)

    def stop(self) -> None:
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
        super().stop()
