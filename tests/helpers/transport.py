"""An in-memory broker and transport (storelens.transport.mqtt.Transport) for fast delivery tests.

Beside, not instead of, the real Mosquitto tests: it keeps MQTT's rules that the code relies on
(QoS 1 acks, retained messages, persistent sessions queue while away, resend after a lost connection),
and lets a test take the broker down and up, or drop an ack, at an exact point.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from itertools import count

from paho.mqtt.client import topic_matches_sub

from storelens.transport.base import Handler


class MemoryBroker:
    """Routes messages between :class:`MemoryTransport` clients."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.up = True
        self.clients: dict[str, MemoryTransport] = {}
        self.retained: dict[str, bytes] = {}
        self.queued: dict[str, list[tuple[str, bytes]]] = defaultdict(list)  # persistent sessions while away
        self.sessions: dict[str, list[str]] = {}  # client id -> patterns of a persistent session
        self.drop_next_acks = 0  # the next N publishes reach subscribers but their PUBACK is lost
        self.published: list[tuple[str, bytes]] = []

    def down(self) -> None:
        """The broker goes away: every client loses its connection."""
        with self.lock:
            self.up = False
            clients = list(self.clients.values())
        for c in clients:
            c.lose()

    def restart(self) -> None:
        """The broker is back: clients reconnect (as paho does by itself)."""
        with self.lock:
            self.up = True
            clients = list(self.clients.values())
        for c in clients:
            c.connect()

    def route(self, sender: MemoryTransport, topic: str, payload: bytes, retain: bool) -> bool:
        """Deliver a message; False when the broker is down (nothing delivered, nothing acked)."""
        with self.lock:
            if not self.up or not sender.connected:
                return False
            self.published.append((topic, payload))
            if retain:
                self.retained[topic] = payload
            targets = [c for c in self.clients.values() if c.connected]
            for cid, patterns in self.sessions.items():
                away = cid not in self.clients or not self.clients[cid].connected
                if away and any(topic_matches_sub(p, topic) for p in patterns):
                    self.queued[cid].append((topic, payload))
            ack = self.drop_next_acks == 0
            self.drop_next_acks = max(0, self.drop_next_acks - 1)
        for c in targets:
            c.deliver(topic, payload)
        return ack


class MemoryTransport:
    """One client of a :class:`MemoryBroker`.

    Args:
        broker: the broker.
        client_id: unique per client; a persistent session survives a stop and a new client with this id.
        persistent_session: the broker queues matching messages while this client is away.
    """

    def __init__(self, broker: MemoryBroker, client_id: str, persistent_session: bool = False) -> None:
        self.broker = broker
        self.client_id = client_id
        self.persistent = persistent_session
        self.connected = False
        self.handlers: list[tuple[str, Handler]] = []
        self.on_connect: Callable[[], None] = lambda: None
        self.on_ack: Callable[[int], None] = lambda mid: None
        self.on_lost: Callable[[], None] = lambda: None
        self._mids = count(1)
        self.subscribed = threading.Event()

    def start(self) -> None:
        """Join the broker and connect."""
        with self.broker.lock:
            self.broker.clients[self.client_id] = self
        self.connect()

    def connect(self) -> None:
        """Connect (if the broker is up): subscriptions, then the persistent session's queue, then on_connect."""
        with self.broker.lock:
            if not self.broker.up or self.connected:
                return
            self.connected = True
            if self.persistent:
                self.broker.sessions[self.client_id] = [p for p, _ in self.handlers]
            queued = self.broker.queued.pop(self.client_id, [])
            retained = [
                (t, p)
                for t, p in self.broker.retained.items()
                if any(topic_matches_sub(s, t) for s, _ in self.handlers)
            ]
        self.subscribed.set()
        for topic, payload in retained + queued:
            self.deliver(topic, payload)
        self.on_connect()

    def lose(self) -> None:
        """The connection drops."""
        self.connected = False
        self.subscribed.clear()
        self.on_lost()

    def deliver(self, topic: str, payload: bytes) -> None:
        """A message from the broker."""
        for pattern, handler in self.handlers:
            if topic_matches_sub(pattern, topic):
                handler(topic, payload)

    def is_connected(self) -> bool:
        """Whether connected now."""
        return self.connected

    def wait_subscribed(self, timeout: float) -> bool:
        """Whether subscribed (within ``timeout``)."""
        return self.subscribed.wait(timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Send; the ack comes at once (before the caller has even seen the message id) unless dropped."""
        mid = next(self._mids)
        if self.broker.route(self, topic, payload, retain) and qos > 0:
            self.on_ack(mid)
        return mid

    def subscribe(self, pattern: str, handler: Handler) -> None:
        """Receive messages on topics matching ``pattern``."""
        self.handlers.append((pattern, handler))
        if self.persistent:
            with self.broker.lock:
                self.broker.sessions.setdefault(self.client_id, []).append(pattern)

    def stop(self) -> None:
        """Leave the broker (its persistent session, if any, keeps queueing)."""
        with self.broker.lock:
            self.broker.clients.pop(self.client_id, None)
        self.connected = False
