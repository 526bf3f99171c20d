"""The seam every process talks through: one small interface, whatever carries the messages.

:class:`storelens.transport.mqtt.MqttTransport` (paho-mqtt) is the real one for MQTT, used alike by the edge's
publishers, the store API's ingest, head office, ``doctor`` and the benchmark;
:class:`storelens.transport.amqp.AmqpQueue` is head office's AMQP consumer of RabbitMQ's quorum queue; the tests
also use an in-memory one (``tests/helpers/transport.py``) for fast delivery, dedupe and ordering checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt

from storelens.config import MqttConfig
from storelens.errors import ConfigError

Handler = Callable[[str, bytes], None]
Ack = Callable[[], None]
AckedHandler = Callable[[str, bytes, Ack], None]  # acknowledges the message itself, once it is safe


class Transport(Protocol):
    """A broker connection that reconnects by itself.

    Attributes:
        on_connect: called after each successful (re)connection.
        on_ack: called with a message id when the broker has acknowledged that message (QoS 1).
        on_lost: called when the connection drops; unacknowledged messages must be sent again.
    """

    on_connect: Callable[[], None]
    on_ack: Callable[[int], None]
    on_lost: Callable[[], None]

    def start(self) -> None:
        """Connect in the background."""
        ...

    def is_connected(self) -> bool:
        """Whether the broker is connected now."""
        ...

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the broker has acknowledged this client's subscriptions; False on timeout."""
        ...

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Send; returns a message id, acknowledged later through ``on_ack``."""
        ...

    def subscribe(self, pattern: str, handler: Handler) -> None:
        """Receive messages on topics matching ``pattern`` (again after every reconnect)."""
        ...

    def stop(self) -> None:
        """Disconnect cleanly and stop."""
        ...


class AckingTransport(Transport, Protocol):
    """A transport whose subscriber acknowledges a QoS 1 message only once it has kept it.

    Head office's batched ingest acknowledges after the batch's commit, so that a crash before it loses nothing.
    """

    def subscribe_acked(self, pattern: str, handler: AckedHandler) -> None:
        """Receive messages on topics matching ``pattern``; the handler calls the ack it is given."""
        ...


def check_tls_files(config: MqttConfig, url: str) -> None:
    """The CA, certificate and key files ``url`` needs over TLS exist.

    Raises:
        ConfigError: naming the missing one.
    """
    for name in ("ca_file", "cert_file", "key_file"):
        given = getattr(config, name)
        if given and not Path(given).is_file():
            raise ConfigError(f"mqtt.{name}: {given} does not exist (needed for {url})")


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` is one of ``pattern``'s topics (an MQTT filter, ``$share/GROUP/`` allowed)."""
    # a shared subscription ($share/GROUP/filter) delivers topics of its filter
    plain = pattern.split("/", 2)[2] if pattern.startswith("$share/") else pattern
    return bool(mqtt.topic_matches_sub(plain, topic))
