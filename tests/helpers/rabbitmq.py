"""A RabbitMQ node of the test's own with its MQTT plugin, on free loopback ports (about 20 s to start)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from storelens.transport.local import LocalRabbitMq

__all__ = ["RabbitMq", "available"]


def available() -> bool:
    return LocalRabbitMq.available()


class RabbitMq(LocalRabbitMq):
    """The product's local node (storelens.transport.local), with what the deployment tests add."""

    def run_script(self, script: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """A shell script whose ``rabbitmqctl`` reaches this node."""
        return subprocess.run(["sh", str(script), *args], env=self.env, capture_output=True, text=True, check=False)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.home / "mnesia", ignore_errors=True)
