"""A camera's events out of the outbox onto the broker (at least once), and its retained status.

The publisher drains the outbox: it publishes pending events with QoS 1 while connected and deletes
each one when the broker's PUBACK arrives. A lost connection re-sends what was unacknowledged (at
least once). Camera status is retained, and the broker announces ``offline`` as the client's will.
The connection itself is the ground floor's :class:`storelens.transport.mqtt.MqttTransport`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from storelens.clock import now_iso
from storelens.config import MqttConfig
from storelens.edge.outbox import Outbox
from storelens.edge_events import StatusEvent, topic
from storelens.redact import redact
from storelens.transport.base import Transport
from storelens.transport.mqtt import MqttTransport

log = logging.getLogger(__name__)


class CameraPublisher:
    """Delivers one camera's events from the outbox, and its retained status.

    Args:
        outbox: the persistent outbox.
        transport: this camera's broker connection (see :func:`camera_transport`); the publisher owns it.
        store_id: store id.
        camera_id: camera id.
        window: events in flight at once.
    """

    def __init__(self, outbox: Outbox, transport: Transport, store_id: str, camera_id: str, window: int = 64) -> None:
        self.outbox = outbox
        self.store_id, self.camera_id = store_id, camera_id
        self.status_topic = topic(store_id, camera_id, "status")
        self.transport = transport
        self.transport.on_connect = self._republish_status
        self.transport.on_ack = self._ack
        self.transport.on_lost = self._lost
        self.window = window
        self._lock = threading.Lock()  # never held while calling into paho
        self._inflight: dict[int, tuple[int, str]] = {}  # mid -> (outbox seq, event id)
        self._early: set[int] = set()  # acks that arrived before their mid was recorded
        self._ignore: set[int] = set()  # mids of status messages
        self._sent: set[int] = set()
        self._status: StatusEvent | None = None
        self.published = 0
        self.acked_latency_hook: Callable[[str], None] | None = None

    def start(self) -> None:
        """Connect in the background."""
        self.transport.start()

    def _record(self, mid: int, entry: tuple[int, str] | None) -> bool:
        """Remember what ``mid`` carries; True when its ack had already arrived."""
        with self._lock:
            if mid in self._early:
                self._early.discard(mid)
                return True
            if entry is None:
                self._ignore.add(mid)
            else:
                self._inflight[mid] = entry
            return False

    def _status_payload(self) -> bytes:
        if self._status is None:
            return b""
        return self._status.model_copy(update={"ts": now_iso()}).model_dump_json().encode()

    def set_status(self, state: str, fps: float = 0.0, detail: str = "") -> int | None:
        """Publish the camera's retained status (again after every reconnect); its message id, None offline."""
        self._status = StatusEvent(
            store_id=self.store_id,
            camera_id=self.camera_id,
            state=state,  # type: ignore[arg-type]  # validated by StatusEvent
            fps=round(fps, 2),
            detail=redact(detail)[:300],  # a camera error may quote its URL; the status topic never shows a password
        )
        if not self.transport.is_connected():
            return None
        return self._publish_status()

    def _publish_status(self) -> int:
        mid = self.transport.publish(self.status_topic, self._status_payload(), qos=1, retain=True)
        if not self._record(mid, None):
            return mid
        return -1  # acknowledged already

    def _republish_status(self) -> None:
        if self._status is not None:
            self._publish_status()

    def _status_pending(self, mid: int) -> bool:
        with self._lock:
            return mid in self._ignore

    def _ack(self, mid: int) -> None:
        with self._lock:
            if mid in self._ignore:
                self._ignore.discard(mid)
                return
            entry = self._inflight.pop(mid, None)
            if entry is None:
                self._early.add(mid)
                return
        self._done(*entry)

    def _done(self, seq: int, event_id: str) -> None:
        self.outbox.ack(seq)
        with self._lock:
            self._sent.discard(seq)
            self.published += 1
        if self.acked_latency_hook:
            self.acked_latency_hook(event_id)

    def _lost(self) -> None:
        with self._lock:
            self._inflight.clear()
            self._early.clear()
            self._ignore.clear()
            self._sent.clear()

    def pump(self) -> int:
        """Publish what fits in the window; returns how many were sent. Call repeatedly."""
        if not self.transport.is_connected():
            return 0
        with self._lock:
            room = self.window - len(self._inflight)
            sent_before = set(self._sent)
        if room <= 0:
            return 0
        sent = 0
        for item in self.outbox.pending(self.camera_id, limit=self.window + len(sent_before)):
            if item.seq in sent_before:
                continue
            with self._lock:
                self._sent.add(item.seq)
            mid = self.transport.publish(item.topic, item.payload, qos=1)
            if self._record(mid, (item.seq, item.event_id)):
                self._done(item.seq, item.event_id)
            sent += 1
            if sent >= room:
                break
        return sent

    def stop(self, offline: bool = True) -> None:
        """Say offline (retained), wait for the broker to have it, and disconnect."""
        if offline and self.transport.is_connected():
            mid = self.set_status("offline", detail="stopped")
            deadline = time.monotonic() + 3
            while mid is not None and self._status_pending(mid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if mid is not None and self._status_pending(mid):  # connection lost meanwhile: the will says offline
                log.debug("offline status not confirmed for %s", self.camera_id)
        self.transport.stop()


def camera_transport(config: MqttConfig, store_id: str, camera_id: str) -> MqttTransport:
    """The MQTT connection of one camera's publisher, whose will says the camera is offline."""
    offline = StatusEvent(
        store_id=store_id,
        camera_id=camera_id,
        state="offline",
        detail="connection to the edge process lost (stopped, crashed or off the network)",
    )
    will = (topic(store_id, camera_id, "status"), offline.model_dump_json().encode())
    return MqttTransport(config.for_edge(), f"storelens-{store_id}-{camera_id}"[:64], will=will)
