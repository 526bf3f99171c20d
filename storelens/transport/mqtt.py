"""MQTT behind the transport seam (:mod:`storelens.transport.base`): one paho client that reconnects by itself."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storelens.config import MqttConfig
from storelens.errors import ConfigError
from storelens.transport.base import AckedHandler, Handler, check_tls_files, matches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Broker:
    """Where the broker is."""

    host: str
    port: int
    tls: bool


def parse_url(url: str) -> Broker:
    """``mqtt://host:port`` or ``mqtts://host:port``.

    Raises:
        ConfigError: the URL is not an MQTT URL.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
        raise ConfigError(f"mqtt.url: expected mqtt://host:port or mqtts://host:port, got {url!r}")
    tls = parsed.scheme == "mqtts"
    return Broker(parsed.hostname, parsed.port or (8883 if tls else 1883), tls)


class MqttTransport:
    """One paho client with automatic reconnection.

    Args:
        config: broker URL, credentials and TLS files.
        client_id: MQTT client id (unique per process and camera).
        will: (topic, payload) the broker publishes, retained, if this client vanishes.
        on_connect: called (in paho's thread) after each successful connection.
    """

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        will: tuple[str, bytes] | None = None,
        on_connect: Callable[[], None] | None = None,
        persistent_session: bool = False,
        manual_ack: bool = False,
    ) -> None:
        self.broker = parse_url(config.url)
        # A persistent session (clean_session False) makes the broker keep this client's subscriptions
        # and queue its QoS 1 messages while it is away: a subscriber that restarts misses nothing.
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent_session
        )
        # Manual acknowledgement: a handler registered with subscribe_acked acknowledges each message once it
        # has kept it; every other message is acknowledged as soon as its handlers return.
        self.manual_ack = manual_ack
        self.client.manual_ack_set(manual_ack)
        if config.username:
            self.client.username_pw_set(config.username, config.secret())
        if self.broker.tls:
            check_tls_files(config, config.url)
            try:
                self.client.tls_set(
                    ca_certs=config.ca_file,
                    certfile=config.cert_file,
                    keyfile=config.key_file,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (ssl.SSLError, OSError, ValueError) as exc:  # a file that is not a certificate or a key
                raise ConfigError(f"mqtt TLS files (ca_file, cert_file, key_file): unusable: {exc}") from exc
            self.client.tls_insecure_set(config.tls_insecure)
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.keepalive = config.keepalive
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker acknowledged our subscriptions (since the last connect)
        self.on_ack: Callable[[int], None] = lambda mid: None
        self.on_lost: Callable[[], None] = lambda: None
        self.on_connect: Callable[[], None] = on_connect or (lambda: None)
        self._handlers: list[tuple[str, Handler]] = []
        self._acked: list[tuple[str, AckedHandler]] = []
        self.stopping = False

    def start(self) -> None:
        """Connect in the background; reconnects by itself."""
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.keepalive)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.broker.host, self.broker.port, reason)
            return
        log.info("connected to MQTT broker %s:%d", self.broker.host, self.broker.port)
        patterns = list(dict.fromkeys(p for p, _ in [*self._handlers, *self._acked]))
        if patterns:  # one SUBSCRIBE, so that its one SUBACK means every subscription is in place
            client.subscribe([(pattern, 1) for pattern in patterns])
        self.connected.set()
        self.on_connect()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self.connected.is_set() and not self.stopping:
            log.warning("lost the MQTT broker %s:%d (%s); reconnecting", self.broker.host, self.broker.port, reason)
        self.connected.clear()
        self.subscribed.clear()
        self.on_lost()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT broker %s:%d refused a subscription: %s", self.broker.host, self.broker.port, refused)
            return
        self.subscribed.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # No lock of ours may be held while calling into paho (its network thread holds paho's own
        # mutex here): the ack may arrive before the publisher recorded the mid, and is parked then.
        self.on_ack(mid)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        for pattern, handler in self._handlers:
            if matches(pattern, msg.topic):
                try:
                    handler(msg.topic, bytes(msg.payload))
                except Exception:  # a consumer's bug must not kill the network thread
                    log.exception("handler for %s failed on %s", pattern, msg.topic)
        # every acknowledging handler whose pattern matches gets the message; the broker has its acknowledgement
        # once each of them has kept it (head office's ingest and its box messages both match a box's topic)
        takers = [(pattern, acked) for pattern, acked in self._acked if matches(pattern, msg.topic)]
        ack = self._ack_of(msg.mid, msg.qos, len(takers))
        for pattern, acked in takers:
            try:
                acked(msg.topic, bytes(msg.payload), ack)
            except Exception:
                log.exception("handler for %s failed on %s", pattern, msg.topic)
        if self.manual_ack and not takers:
            self.client.ack(msg.mid, msg.qos)

    def probe(self, timeout: float) -> str | None:
        """Connect once and disconnect (``storelens doctor``): None when the broker accepts, else why not."""
        result: list[Any] = []
        self.client.on_connect = lambda c, u, f, reason, p: result.append(reason)
        try:
            self.client.connect(self.broker.host, self.broker.port, keepalive=10)
        except OSError as exc:  # refused, unreachable, TLS handshake failed
            return str(exc.strerror or exc)
        self.client.loop_start()
        try:
            deadline = time.monotonic() + timeout
            while not result and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            self.client.loop_stop()
            self.client.disconnect()
        if not result:
            return "no answer"
        return None if not result[0].is_failure else str(result[0])

    def is_connected(self) -> bool:
        """Whether the broker is connected now."""
        return self.connected.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the broker has acknowledged our subscriptions (since the last connect)."""
        return self.subscribed.wait(timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Publish; returns the message id that :attr:`on_ack` will be called with."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        return int(info.mid)

    def publish_confirmed(self, topic: str, payload: bytes, timeout: float) -> bool:
        """Publish at QoS 1 and wait for the broker's acknowledgement; False when none came within ``timeout``."""
        info = self.client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):  # not connected, or the queue is full: sent again later
            return False
        return info.is_published()

    def subscribe(self, pattern: str, handler: Handler) -> None:
        """Subscribe (now if connected, and again after every reconnect)."""
        self._handlers.append((pattern, handler))
        if self.connected.is_set():
            self.client.subscribe(pattern, qos=1)

    def _ack_of(self, mid: int, qos: int, takers: int = 1) -> Callable[[], None]:
        """The acknowledgement of message ``mid``, sent once ``takers`` handlers have each called it."""
        left = [takers]
        lock = threading.Lock()

        def ack() -> None:
            with lock:
                left[0] -= 1
                done = left[0] == 0
            if done:
                self.client.ack(mid, qos)

        return ack

    def subscribe_acked(self, pattern: str, handler: AckedHandler) -> None:
        """Subscribe; the handler acknowledges each message itself (needs ``manual_ack``).

        Raises:
            ValueError: this transport acknowledges automatically.
        """
        if not self.manual_ack:
            raise ValueError("subscribe_acked needs a transport made with manual_ack=True")
        self._acked.append((pattern, handler))
        if self.connected.is_set():
            self.client.subscribe(pattern, qos=1)

    def stop(self) -> None:
        """Disconnect cleanly (no will is sent) and stop the network thread."""
        self.stopping = True
        self.client.disconnect()
        self.client.loop_stop()
