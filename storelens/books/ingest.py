"""Subscribes to the store's MQTT topics and stores every valid event once (deduplicated by event_id).

The one validation layer of the MQTT boundary: a message is stored only when its payload fits its
versioned event model (``storelens.edge_events``: bounded sizes and ranges, its own ``event_id``, a plausible
time) and its store, camera and kind are those of its topic. Anything else is logged with its topic
and the first bad field, counted, and never stored.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from storelens.books.event_log import EventLog
from storelens.config import MqttConfig
from storelens.edge_events import (
    KIND_OF,
    ArrivalEvent,
    FootfallEvent,
    StatusEvent,
    VisitorEvent,
    parse_event_payload,
    parse_topic,
    topic_filter,
)
from storelens.errors import PayloadError, first_error
from storelens.transport.base import Ack, AckingTransport, Transport
from storelens.transport.mqtt import MqttTransport
from storelens.workers import Periodic, drain

log = logging.getLogger(__name__)
Event = ArrivalEvent | VisitorEvent | FootfallEvent
MAX_PENDING = 20_000  # events taken from the broker and not yet stored (the broker's in-flight window bounds it)
WRITE_EVERY = 0.005  # seconds between two looks at what is pending


class Ingest:
    """Events from MQTT into the event log.

    Args:
        events: the event log.
        transport: the broker connection, owned by the ingest from now on (see :func:`ingest_transport`).
        store_id: the store whose topics are read; ``+``: every store (head office).
        on_new: called with the sequence number and payload of each newly stored event (the live push).
        on_status: called with each valid camera status (retained; never stored): the console shows it.
        shared_group: subscribe as a shared subscription of this group, so that several processes share the
            load (each message goes to one of them; head office).
        batch: store in batches of up to this many events, one transaction each, acknowledging each message
            to the broker only after its batch is committed (head office: a transport with manual
            acknowledgement). 0: one event at a time, acknowledged when stored (a store's API).
    """

    def __init__(
        self,
        events: EventLog,
        transport: Transport,
        store_id: str,
        on_new: Callable[[int, dict[str, Any]], None] | None = None,
        on_status: Callable[[StatusEvent], None] | None = None,
        shared_group: str | None = None,
        batch: int = 0,
    ) -> None:
        self.events = events
        self.store_id = store_id
        self.on_new = on_new
        self.on_status = on_status
        self.rejected = 0
        self.duplicates = 0
        self.transport = transport
        self.batch = batch
        self._pending: queue.Queue[tuple[Event, Ack]] = queue.Queue(maxsize=MAX_PENDING)
        self._writer = _BatchWriter(self)
        pattern = topic_filter(store_id)
        pattern = f"$share/{shared_group}/{pattern}" if shared_group else pattern
        if batch:
            cast(AckingTransport, transport).subscribe_acked(pattern, self._on_acked)
        else:
            self.transport.subscribe(pattern, self._on_message)

    def start(self) -> None:
        """Connect (and reconnect) in the background; in batch mode, start the writer."""
        if self.batch:
            self._writer.start()
        self.transport.start()

    def _reject(self, topic: str, where: str, why: str) -> None:
        self.rejected += 1
        log.warning("rejected a message on %s: %s: %s", topic[:200], where, why[:300])

    def _check(self, topic: str, payload: bytes) -> Event | None:
        """The message's event when it is one to store, else None (logged and counted when invalid)."""
        try:
            store_id, camera_id, kind = parse_topic(topic)
        except ValueError as exc:
            self._reject(topic, "topic", str(exc))
            return None
        if kind == "status" and not camera_id.startswith("_") and self.on_status is not None:
            try:
                status = StatusEvent.model_validate_json(payload)
            except ValidationError as exc:
                self._reject(topic, *first_error(exc))
                return None
            if (status.store_id, status.camera_id) == (store_id, camera_id):
                self.on_status(status)
            else:
                self._reject(topic, "store_id/camera_id", "the status names another camera than its topic")
            return None
        if kind == "status" or camera_id.startswith("_"):  # status; head office's commands and boxes' receipts
            return None
        try:
            event = parse_event_payload(payload)
        except PayloadError as exc:
            self._reject(topic, exc.where, exc.why)
            return None
        if (event.store_id, event.camera_id, KIND_OF[event.type]) != (store_id, camera_id, kind):
            got = f"{event.store_id}/{event.camera_id}/{KIND_OF[event.type]}"
            self._reject(topic, "store_id/camera_id/type", f"the payload says {got}, its topic says otherwise")
            return None
        return event

    def _on_message(self, topic: str, payload: bytes) -> None:
        event = self._check(topic, payload)
        if event is None:
            return
        data = event.model_dump()
        seq = self.events.add(data)
        if seq is None:
            self.duplicates += 1
        elif self.on_new:
            self.on_new(seq, data)

    def _on_acked(self, topic: str, payload: bytes, ack: Ack) -> None:
        event = self._check(topic, payload)
        if event is None:
            ack()  # nothing to keep: a redelivery would be refused again
            return
        self._pending.put((event, ack))  # blocks the network thread when full: back-pressure on the broker

    def stop(self) -> None:
        """Disconnect; in batch mode, store what was taken first."""
        self._writer.stop()
        self.transport.stop()


class _BatchWriter(Periodic):
    """The batch mode's writer: stores what is pending, a batch per transaction, and on stop what was taken.

    What was taken and not stored stays unacknowledged: the broker sends it again.
    """

    def __init__(self, ingest: Ingest) -> None:
        super().__init__("ingest-writer", WRITE_EVERY)
        self.ingest = ingest

    def tick(self) -> None:
        """Full batches back to back, until one is not full."""
        while self.write() == self.ingest.batch and not self.stopping():
            pass

    def last(self) -> None:
        """What was taken is kept."""
        self.write()

    def write(self) -> int:
        """Store what is pending (up to ``batch``) in one transaction, then acknowledge it; returns how many."""
        ingest = self.ingest
        taken = drain(ingest._pending, ingest.batch)
        if not taken:
            return 0
        while True:
            try:
                stored = ingest.events.add_many([e for e, _ in taken])
                break
            except SQLAlchemyError as exc:  # the database is away: keep the batch, unacknowledged, and retry
                log.error("storing %d event(s) failed, retried: %s", len(taken), exc.__class__.__name__)
                if self.pause(1.0):
                    return 0
        ingest.duplicates += len(taken) - len(stored)
        for event, ack in taken:
            ack()
            seq = stored.get(event.event_id)
            if seq is not None and ingest.on_new:
                ingest.on_new(seq, event.model_dump())
        return len(taken)


def ingest_transport(config: MqttConfig, store_id: str) -> MqttTransport:
    """The API's MQTT connection.

    A stable client id and a persistent session: events published while the API is down or
    restarting are queued by the broker and stored when it is back.
    """
    return MqttTransport(config, f"storelens-api-{store_id}"[:64], persistent_session=True)
