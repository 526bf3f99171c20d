"""One camera's loop: read frames, analyse them, queue the events; reconnect with backoff; time each delivery.

A file source is read to its end (its tracks then ended); a live one is read at the camera's analysis rate, its
open tracks flushed when no frame comes. A camera that fails is logged and retried with a doubling backoff up to
``edge.reconnect_max_seconds`` (a file source is not retried): it never stops another camera or the process.
Every event is queued on the outbox with the monotonic time its frame was captured, kept until the broker
acknowledges it (:class:`DeliveryTimes`): capture-to-PUBACK latency and, for arrivals, the time to greet.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from storelens.config import CameraConfig, EdgeConfig
from storelens.edge.capture import FileReader, LiveReader, is_live
from storelens.edge.outbox import Outbox
from storelens.edge.pipeline import CameraPipeline, PipelineEvent
from storelens.edge.publisher import CameraPublisher
from storelens.edge_events import KIND_OF, ArrivalEvent, topic
from storelens.errors import StoreLensError
from storelens.stage_messages import Frame

log = logging.getLogger(__name__)
LATENCY_WINDOW = 10_000  # capture-to-PUBACK latencies kept for the summary (the most recent ones)
PENDING_CAPTURES = 100_000  # events whose capture time is remembered until acked (oldest dropped first)


@dataclass
class CameraStats:
    """Per-camera measurements (for status, metrics and the benchmark)."""

    analysed: int = 0
    analyse_seconds: list[float] = field(default_factory=list)
    events: int = 0
    started: float = field(default_factory=time.monotonic)
    decidable_share: float | None = None  # of the last ended tracks, those with a face good enough to decide
    brightness: float | None = None  # mean grey level of the last analysed frame, as the camera delivered it

    def fps(self) -> float:
        """Analysed frames per second of wall time since start."""
        elapsed = time.monotonic() - self.started
        return self.analysed / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """Counts and the median analysis time of this run."""
        median = statistics.median(self.analyse_seconds) * 1000 if self.analyse_seconds else None
        return {
            "analysed": self.analysed,
            "events": self.events,
            "fps": round(self.fps(), 2),
            "median_analyse_ms": round(median, 1) if median is not None else None,
        }


class DeliveryTimes:
    """Capture-to-PUBACK latencies, and when each announced member was acknowledged (the time to greet).

    Bounded, like everything in a 24/7 process: the most recent :data:`LATENCY_WINDOW` of each, and at most
    :data:`PENDING_CAPTURES` events waiting for their acknowledgement (the oldest forgotten first).
    """

    def __init__(self) -> None:
        # event id -> (monotonic time its frame was captured, the member of an arrival) until the broker acks it
        self.pending: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.greeted: deque[tuple[str, datetime]] = deque(maxlen=LATENCY_WINDOW)  # (member, acked at)

    def queued(self, event_id: str, captured: float, member: str | None) -> None:
        """An event went into the outbox; its frame was captured at ``captured`` (monotonic seconds)."""
        self.pending[event_id] = (captured, member)
        while len(self.pending) > PENDING_CAPTURES:
            self.pending.popitem(last=False)

    def acked(self, event_id: str) -> None:
        """The broker acknowledged an event."""
        pending = self.pending.pop(event_id, None)
        if pending is None:
            return
        captured, member = pending
        self.latencies_ms.append((time.monotonic() - captured) * 1000)
        if member is not None:
            self.greeted.append((member, datetime.now(UTC)))

    def percentiles(self) -> dict[str, float | None]:
        """The median and 95th percentile latency of this run, in milliseconds."""
        lat = sorted(self.latencies_ms)
        return {
            "latency_ms_p50": lat[len(lat) // 2] if lat else None,
            "latency_ms_p95": lat[int(len(lat) * 0.95)] if lat else None,
        }


class CameraLoop:
    """One camera, read and analysed until the stop event (or its file's end), on the calling thread.

    Args:
        store_id: the store, for the events' topics.
        camera: the camera's settings.
        edge: the edge's settings (file pacing, reconnect backoff).
        pipeline: makes the camera's pipeline (again after each reconnect).
        publisher: the camera's publisher (its status).
        outbox: where its events go.
        times: delivery times of every camera.
        stop: set to stop.
    """

    def __init__(
        self,
        store_id: str,
        camera: CameraConfig,
        edge: EdgeConfig,
        pipeline: Callable[[], CameraPipeline],
        publisher: CameraPublisher,
        outbox: Outbox,
        times: DeliveryTimes,
        stop: threading.Event,
    ) -> None:
        self.store_id, self.camera, self.edge = store_id, camera, edge
        self.make_pipeline, self.publisher, self.outbox, self.times, self.stop = (
            pipeline,
            publisher,
            outbox,
            times,
            stop,
        )
        self.stats = CameraStats()
        self.reader: LiveReader | FileReader | None = None
        self.finished = False
        self.failure: str | None = None

    def run(self) -> None:
        """Run the camera, retrying a live one after a failure, until stopped or its file has ended."""
        backoff = 1.0
        while not self.stop.is_set():
            try:
                if is_live(self.camera.source):
                    self._run_live()
                else:
                    self._run_file()
                return
            except Exception as exc:  # never die of a camera: log, report, retry
                if isinstance(exc, StoreLensError):  # expected (a source that will not open): one line
                    log.error("camera %s: %s", self.camera.id, exc)
                else:  # a bug: with its traceback
                    log.exception("camera %s failed", self.camera.id)
                self.failure = str(exc)
                self.publisher.set_status("reconnecting", detail=str(exc)[:200])
                if not is_live(self.camera.source) or self.stop.wait(backoff):
                    return
                backoff = min(backoff * 2, self.edge.reconnect_max_seconds)

    def queue(self, events: Sequence[PipelineEvent], captured: float) -> None:
        """Put events into the outbox, each remembered with its frame's capture time until acknowledged."""
        for ev in events:
            self.outbox.put(
                ev.event_id,
                self.camera.id,
                topic(self.store_id, self.camera.id, KIND_OF[ev.type]),
                ev.model_dump_json().encode(),
            )
            self.times.queued(ev.event_id, captured, ev.member_id if isinstance(ev, ArrivalEvent) else None)
            self.stats.events += 1
            log.info("camera %s: %s event %s", self.camera.id, ev.type, ev.event_id)

    def _analyse(self, pipeline: CameraPipeline, frame: Frame) -> None:
        t0 = time.monotonic()
        events = pipeline.process(frame)
        stats = self.stats
        stats.analysed += 1
        stats.decidable_share = pipeline.decidable_share
        stats.brightness = pipeline.lift.last_brightness
        stats.analyse_seconds.append(time.monotonic() - t0)
        if len(stats.analyse_seconds) > 1000:
            del stats.analyse_seconds[:500]
        self.queue(events, t0)

    def _run_file(self) -> None:
        camera = self.camera
        reader = FileReader(camera.id, camera.source, camera.analysis_fps, realtime=self.edge.file_realtime)
        self.reader = reader
        pipeline = self.make_pipeline()
        self.publisher.set_status("online", detail="file source")
        last_ts = reader.start
        try:
            while not self.stop.is_set():
                frame = reader.next()
                if frame is None:
                    break
                last_ts = frame.ts
                self._analyse(pipeline, frame)
            self.queue(pipeline.finish(last_ts), time.monotonic())
            self.finished = True
        finally:
            reader.stop()

    def _run_live(self) -> None:
        camera, pub, stats = self.camera, self.publisher, self.stats

        def status(state: str, detail: str) -> None:
            log.info("camera %s: %s %s", camera.id, state, detail)
            pub.set_status(state, stats.fps(), detail)

        reader = LiveReader(camera.id, camera.source, status, self.edge.reconnect_max_seconds)
        self.reader = reader
        pipeline = self.make_pipeline()
        period = 1.0 / camera.analysis_fps
        reader.start()
        next_at = time.monotonic()
        try:
            while not self.stop.wait(max(0.0, next_at - time.monotonic())):
                next_at = time.monotonic() + period
                frame = reader.latest(timeout=period)
                if frame is None:
                    self.queue(pipeline.flush(datetime.now(UTC)), time.monotonic())
                    continue
                self._analyse(pipeline, frame)
        finally:
            reader.stop()
            self.queue(pipeline.finish(datetime.now(UTC)), time.monotonic())
