"""RabbitMQ's quorum queue as head office's event source: workers that come and go lose nothing.

The stores' bridges publish over MQTT into RabbitMQ's MQTT plugin, which routes each message to the
``amq.topic`` exchange with the topic as its routing key ('/' and '.' swapped). A durable *quorum* queue bound
there holds every store's events for the group of ``hq serve`` workers as a whole: each message goes to one
consumer, stays unacknowledged until that worker's batch is committed, and goes back to the queue (to another
worker) when that worker dies or disconnects. A worker starting, stopping or being killed mid-batch therefore
never loses an event, and a redelivered one is stored once (the event store deduplicates by ``event_id``).

:class:`AmqpQueue` is a transport (``storelens.transport.mqtt.AckingTransport``) so that the MQTT ingest's validation
and batching (``storelens.books.ingest.Ingest``) serve both brokers unchanged. pika's blocking connection is not
thread-safe: it lives in one worker thread, and acknowledgements made by the ingest's writer are handed to it
through a queue.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from storelens.config import MqttConfig
from storelens.errors import ConfigError
from storelens.transport.base import Ack, AckedHandler, Handler, check_tls_files, matches
from storelens.workers import Periodic, drain

if TYPE_CHECKING:
    import pika
    import pika.channel

log = logging.getLogger(__name__)
EXCHANGE = "amq.topic"  # where RabbitMQ's MQTT plugin routes what MQTT clients publish
POLL_SECONDS = 0.05  # the longest an acknowledgement waits for the connection's thread
RECONNECT_SECONDS = 2.0
_SWAP = str.maketrans("./", "/.")  # MQTT topic <-> AMQP routing key, as the MQTT plugin maps them


def binding_key(pattern: str) -> str:
    """The AMQP binding key of an MQTT topic filter (``$share/GROUP/`` dropped: the queue is shared already).

    >>> binding_key("storelens/v1/+/+/visitor")
    'storelens.v1.*.*.visitor'
    """
    if pattern.startswith("$share/"):
        pattern = pattern.split("/", 2)[2]
    return pattern.translate(_SWAP).replace("+", "*")


def topic_of(routing_key: str) -> str:
    """The MQTT topic a routing key came from."""
    return routing_key.translate(_SWAP)


class AmqpQueue:
    """A durable quorum queue, bound to the stores' topics and consumed with manual acknowledgement.

    Args:
        url: ``amqp://host:port/`` or ``amqps://`` (TLS with ``credentials.ca_file``).
        credentials: the RabbitMQ user (``username`` and its password) and TLS files, as for MQTT.
        queue_name: the queue's name, declared (durable, quorum) and bound on every connect.
        prefetch: unacknowledged messages this worker may hold (two batches keep the writer busy).
    """

    def __init__(self, url: str, credentials: MqttConfig, queue_name: str, prefetch: int) -> None:
        parsed = urlparse(url)
        self.host, self.port = (
            parsed.hostname or "127.0.0.1",
            parsed.port or (5671 if parsed.scheme == "amqps" else 5672),
        )
        self.credentials = credentials
        self._tls = self._tls_context(url) if parsed.scheme == "amqps" else None
        self.queue_name, self.prefetch = queue_name, prefetch
        self.subscribed = threading.Event()
        self.on_connect: Callable[[], None] = lambda: None
        self.on_ack: Callable[[int], None] = lambda mid: None
        self.on_lost: Callable[[], None] = lambda: None
        self._acked: list[tuple[str, AckedHandler]] = []
        self._acks: queue.Queue[tuple[int, int]] = queue.Queue()  # (connection generation, delivery tag)
        self._generation = 0
        self._done: set[int] = set()  # delivery tags committed, above the last acknowledged one
        self._acked_upto = 0
        self._connection: pika.BlockingConnection | None = None
        self._channel: pika.channel.Channel | None = None
        self._loop = _Loop(self)

    def start(self) -> None:
        """Connect (and reconnect) in the background."""
        self._loop.start()

    def is_connected(self) -> bool:
        """Whether the queue is being consumed now."""
        return self.subscribed.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the queue is declared, bound and consumed."""
        return self.subscribed.wait(timeout)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Not used: head office publishes over MQTT.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("the event queue is consumed, not published to")

    def subscribe(self, pattern: str, handler: Handler) -> None:
        """Bind a topic filter; the message is acknowledged as soon as the handler returns."""

        def acked(topic: str, payload: bytes, ack: Ack) -> None:
            handler(topic, payload)
            ack()

        self.subscribe_acked(pattern, acked)

    def subscribe_acked(self, pattern: str, handler: AckedHandler) -> None:
        """Bind a topic filter (before :meth:`start`); the handler acknowledges each message once it is kept."""
        self._acked.append((pattern, handler))

    def stop(self) -> None:
        """Send the acknowledgements made so far, then close (what was not acknowledged goes back to the queue)."""
        self._loop.stop()

    # --- the connection's thread ---

    def _tls_context(self, url: str) -> ssl.SSLContext:
        """The TLS context of every connection, made once: a missing or unusable file is one error at start.

        Raises:
            ConfigError: a TLS file is missing or is not a certificate or key.
        """
        check_tls_files(self.credentials, url)
        try:
            context = ssl.create_default_context(cafile=self.credentials.ca_file)
            if self.credentials.cert_file:
                context.load_cert_chain(self.credentials.cert_file, self.credentials.key_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"mqtt TLS files (ca_file, cert_file, key_file): unusable for {url}: {exc}") from exc
        context.check_hostname = not self.credentials.tls_insecure
        return context

    def _parameters(self) -> pika.ConnectionParameters:
        import pika

        user = self.credentials.username or "guest"
        password = self.credentials.secret() or "guest"  # read again at each connect: a changed password is taken
        options = None if self._tls is None else pika.SSLOptions(self._tls, self.host)
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            credentials=pika.PlainCredentials(user, password),
            ssl_options=options,
            heartbeat=30,
            blocked_connection_timeout=60,
        )

    def _connect(self) -> None:
        import pika

        connection = pika.BlockingConnection(self._parameters())
        channel = connection.channel()
        channel.queue_declare(self.queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        for pattern, _ in self._acked:
            channel.queue_bind(self.queue_name, EXCHANGE, routing_key=binding_key(pattern))
        channel.basic_qos(prefetch_count=self.prefetch)
        self._generation += 1
        self._done, self._acked_upto = set(), 0
        generation = self._generation

        def deliver(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            topic, tag = topic_of(method.routing_key), int(method.delivery_tag)

            def ack() -> None:
                self._acks.put((generation, tag))

            handler = next((h for pattern, h in self._acked if matches(pattern, topic)), None)
            if handler is None:  # bound by no filter of ours: nothing to keep
                ack()
                return
            try:
                handler(topic, body, ack)
            except Exception:  # a consumer's bug must not end the consumer
                log.exception("the handler failed on a message of %s", topic[:200])

        channel.basic_consume(self.queue_name, deliver)
        self._connection, self._channel = connection, channel
        log.info("consuming the quorum queue %s at %s:%d", self.queue_name, self.host, self.port)
        self.subscribed.set()
        self.on_connect()

    def _flush_acks(self) -> None:
        """Acknowledge what the writer has committed, in one frame.

        Up to the highest delivery tag below which every message is done (tags count up from 1 per channel; one
        ``multiple`` acknowledgement per round instead of one frame per event). Acknowledgements of an
        older connection are dropped: those messages went back to the queue and are stored again by whoever
        takes them, deduplicated.
        """
        for generation, tag in drain(self._acks, 1_000_000):
            if generation == self._generation:
                self._done.add(tag)
        upto = self._acked_upto
        while upto + 1 in self._done:
            upto += 1
            self._done.discard(upto)
        if upto > self._acked_upto and self._channel is not None:
            self._channel.basic_ack(upto, multiple=True)
            self._acked_upto = upto

    def _round(self) -> None:
        import pika.exceptions

        try:
            if self._connection is None:
                self._connect()
            if self._connection is not None:
                self._connection.process_data_events(time_limit=POLL_SECONDS)
                self._flush_acks()
        except (pika.exceptions.AMQPError, OSError) as exc:
            if self.subscribed.is_set():
                log.warning("lost RabbitMQ at %s:%d (%s); reconnecting", self.host, self.port, exc.__class__.__name__)
            else:
                log.warning(
                    "cannot reach RabbitMQ at %s:%d: %s", self.host, self.port, str(exc)[:200] or exc.__class__.__name__
                )
            self._close()
            self._loop.pause(RECONNECT_SECONDS)

    def _close(self) -> None:
        import pika.exceptions

        self.subscribed.clear()
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()
        if connection is not None:
            self.on_lost()


class _Loop(Periodic):
    """The connection's thread: connect, deliver, acknowledge, reconnect; on stop the last acknowledgements."""

    def __init__(self, amqp: AmqpQueue) -> None:
        super().__init__("amqp-queue", 0.0)
        self.amqp = amqp

    def tick(self) -> None:
        self.amqp._round()

    def last(self) -> None:
        import pika.exceptions

        try:
            self.amqp._flush_acks()
        except (pika.exceptions.AMQPError, OSError) as exc:
            log.warning("the last acknowledgements were not sent (%s): those events come again", exc.__class__.__name__)
        self.amqp._close()
