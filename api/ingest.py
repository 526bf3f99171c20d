"""Subscribes to the store's MQTT topics and stores every valid event once (deduplicated by event_id).

The one validation layer of the MQTT boundary: a message is stored only when its payload fits its
versioned event model (``storelens.events``: bounded sizes and ranges, its own ``event_id``, a plausible
time) and its store, camera and kind are those of its topic. Anything else is logged with its topic
and the first bad field, counted, and never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from storelens.api.store import EventStore
from storelens.bounds import MAX_PAYLOAD_BYTES
from storelens.config import MqttConfig
from storelens.edge.mqtt import MqttTransport
from storelens.events import KIND_OF, parse_event, parse_topic, topic_filter
from storelens.transport import Transport

log = logging.getLogger(__name__)


class Ingest:
    """Events from MQTT into the event store.

    Args:
        store: the event database.
        transport: the broker connection, owned by the ingest from now on (see :func:`ingest_transport`).
        store_id: the store whose topics are read; ``+``: every store (head office).
        on_new: called with the sequence number and payload of each newly stored event (the live push).
        shared_group: subscribe as a shared subscription of this group, so that several processes share the
            load (each message goes to one of them; head office).
    """

    def __init__(
        self,
        store: EventStore,
        transport: Transport,
        store_id: str,
        on_new: Callable[[int, dict[str, Any]], None] | None = None,
        shared_group: str | None = None,
    ) -> None:
        self.store = store
        self.store_id = store_id
        self.on_new = on_new
        self.rejected = 0
        self.duplicates = 0
        self.transport = transport
        pattern = topic_filter(store_id)
        self.transport.subscribe(f"$share/{shared_group}/{pattern}" if shared_group else pattern, self._on_message)

    def start(self) -> None:
        """Connect (and reconnect) in the background."""
        self.transport.start()

    def _reject(self, topic: str, where: str, why: str) -> None:
        self.rejected += 1
        log.warning("rejected a message on %s: %s: %s", topic[:200], where, why[:300])

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            store_id, camera_id, kind = parse_topic(topic)
        except ValueError as exc:
            self._reject(topic, "topic", str(exc))
            return
        if kind == "status" or camera_id.startswith("_"):  # status; head office's commands and boxes' receipts
            return
        if len(payload) > MAX_PAYLOAD_BYTES:
            self._reject(topic, "payload", f"{len(payload)} bytes, at most {MAX_PAYLOAD_BYTES} accepted")
            return
        try:
            event = parse_event(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"][1:] or first["loc"]) or "payload"
            self._reject(topic, where, first["msg"])
            return
        if (event.store_id, event.camera_id, KIND_OF[event.type]) != (store_id, camera_id, kind):
            got = f"{event.store_id}/{event.camera_id}/{KIND_OF[event.type]}"
            self._reject(topic, "store_id/camera_id/type", f"the payload says {got}, its topic says otherwise")
            return
        data = event.model_dump()
        seq = self.store.add(data)
        if seq is None:
            self.duplicates += 1
        elif self.on_new:
            self.on_new(seq, data)

    def stop(self) -> None:
        """Disconnect."""
        self.transport.stop()


def ingest_transport(config: MqttConfig, store_id: str) -> MqttTransport:
    """The API's MQTT connection.

    A stable client id and a persistent session: events published while the API is down or
    restarting are queued by the broker and stored when it is back.
    """
    return MqttTransport(config, f"storelens-api-{store_id}"[:64], persistent_session=True)
