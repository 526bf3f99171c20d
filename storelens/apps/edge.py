"""The edge process, wired in one place: models, gallery, outbox, transports, per-camera pipelines, threads.

Start steps, in order (:meth:`EdgeApp.run`): publishers connect; /health and /metrics serve; the
delivery thread drains the outbox; one thread per camera reads, analyses and queues. ``run`` returns
after stopping everything in reverse, in its ``finally``.

Every long-running worker loops on ``while not stop.wait(t)`` and stops in ``finally``. A camera
that fails is logged and retried; it never stops another camera or the process.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storelens.apps.faces import load_face_models
from storelens.config import CameraConfig, Config
from storelens.edge.capture import FileReader, LiveReader, is_live
from storelens.edge.footfall import FootfallAggregator
from storelens.edge.metrics import STALE_SECONDS, EdgeMetrics, MetricsServer, age
from storelens.edge.motion import MotionGate
from storelens.edge.outbox import Outbox
from storelens.edge.pipeline import CameraPipeline, PipelineEvent, decision_policy
from storelens.edge.publisher import CameraPublisher, camera_transport
from storelens.edge.track import FaceTracker
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.edge_events import KIND_OF, ArrivalEvent, topic
from storelens.errors import StoreLensError
from storelens.exposure import DarkFrameLift
from storelens.gallery.factory import open_gallery
from storelens.gallery.gallery import Gallery
from storelens.stage_messages import FaceModels, Frame
from storelens.workers import Periodic, stop_in_order

log = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 6 * 3600
DELIVER_EVERY = 0.02  # seconds between two delivery rounds
LATENCY_WINDOW = 10_000  # capture-to-PUBACK latencies kept for the summary (the most recent ones)
PENDING_CAPTURES = 100_000  # events whose capture time is remembered until acked (oldest dropped first)


def build_pipeline(
    config: Config,
    camera: CameraConfig,
    face_models: FaceModels,
    gallery: Gallery,
    cooldown: ArrivalCooldown,
    visitors: AnonymousRegistry,
    timing: Callable[[str, float], None] | None = None,
) -> CameraPipeline:
    """One camera's pipeline, each of its parts given the settings it needs (and only those).

    The privacy rules decide here, once, whether this camera's faces are embedded and whether strangers
    are re-identified.
    """
    edge = config.edge
    rules = config.privacy_rules()
    return CameraPipeline(
        store_id=config.store.id,
        camera=camera,
        min_face_px=config.min_face_px_for(camera),
        face_models=face_models,
        gallery=gallery,
        policy=decision_policy(edge, gallery.policy, rules.recognises(camera.id)),
        tracker=FaceTracker(camera.analysis_fps, edge.track_lost_seconds),
        footfall=FootfallAggregator(
            config.store.id, camera.id, edge.footfall_interval_minutes, rules.visitor_reid, camera.entry_line
        ),
        cooldown=cooldown,
        visitors=visitors,
        track_lost=timedelta(seconds=edge.track_lost_seconds),
        reidentify=rules.visitor_reid,
        timing=timing,
        lift=DarkFrameLift(config.detection.lift_dark_below),
        gate=MotionGate(edge.motion_min_share, timedelta(seconds=edge.full_detection_seconds), camera.roi)
        if edge.motion_gating
        else None,
    )


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


class Delivery(Periodic):
    """Every camera's outbox onto the broker, and the gallery's changes in, every ``DELIVER_EVERY`` seconds.

    It outlives the cameras: their last events still go out.

    Args:
        publishers: one per camera.
        gallery: the store's members (reloaded when another process changed them).
    """

    def __init__(self, publishers: list[CameraPublisher], gallery: Gallery) -> None:
        super().__init__("deliver", DELIVER_EVERY)
        self.publishers, self.gallery = publishers, gallery

    def tick(self) -> None:
        """One round: pump each publisher, then look for gallery changes."""
        for pub in self.publishers:
            pub.pump()
        self.gallery.refresh()


class MemberRetention(Periodic):
    """Members not seen for the privacy profile's period erased from the gallery: at start, then periodically.

    Args:
        gallery: the store's members.
        days: ``PrivacyRules.member_retention_days``.
        every: seconds between two purges.
    """

    def __init__(self, gallery: Gallery, days: int, every: float = PURGE_EVERY_SECONDS) -> None:
        super().__init__("member-retention", every, first_now=True, retry_on=(Exception,))  # retried next round
        self.gallery, self.days = gallery, days

    def tick(self) -> None:
        """One purge now."""
        for receipt in self.gallery.purge_expired(self.days):
            log.info("retention purge: erased a member not seen for %d days at %s", self.days, receipt.at)


class EdgeApp:
    """Runs the configured cameras until stopped, or until every file source has ended and is delivered.

    Args:
        config: the whole configuration.
        face_models: loaded detector and embedder (loaded from config when None).
        outbox_path: where the outbox lives (default: ``edge.outbox`` under the gallery's parent).
    """

    def __init__(self, config: Config, face_models: FaceModels | None = None, outbox_path: Path | None = None) -> None:
        self.config = config
        self.fm = face_models or load_face_models(config)
        # Build steps in order, each checking its settings before anything is written: the broker
        # connections (a TLS file that is missing is refused here), then the gallery and the outbox.
        store = config.store.id
        transports = {c.id: camera_transport(config.mqtt, store, c.id) for c in config.cameras}
        self.gallery = open_gallery(config, self.fm.recogniser_spec)
        self.cooldown = ArrivalCooldown(config.edge.arrival_cooldown_minutes)
        self.visitors = AnonymousRegistry(
            config.edge.visitor_ttl_hours, config.edge.visit_gap_minutes, self.gallery.policy.visitor_match
        )
        self.outbox = Outbox(outbox_path or Path(config.edge.outbox))
        self.stop_event = threading.Event()
        self.publishers = {cid: CameraPublisher(self.outbox, t, store, cid) for cid, t in transports.items()}
        self.rules = config.privacy_rules()
        for camera in config.cameras:
            if not self.rules.recognises(camera.id):
                log.info(
                    "camera %s: count-only (privacy profile %s%s): no face is embedded; VIPs by phone or member code",
                    camera.id,
                    self.rules.profile,
                    "" if config.recognition.enabled else ", recognition.enabled = false",
                )
        if not self.rules.visitor_reid:
            log.info(
                "privacy profile %s: strangers are not re-identified; unique visitors unavailable", self.rules.profile
            )
        self.stats = {c.id: CameraStats() for c in config.cameras}
        # event id -> (monotonic time its frame was captured, the member of an arrival) until the broker acks it;
        # bounded, like everything in a 24/7 process
        self.pending: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.greeted: deque[tuple[str, datetime]] = deque(maxlen=LATENCY_WINDOW)  # (member, acked at): time to greet
        self._threads: list[threading.Thread] = []
        self.failures: dict[str, str] = {}
        self.metrics = EdgeMetrics()
        self.readers: dict[str, LiveReader | FileReader] = {}
        self.finished: set[str] = set()
        self.metrics_server: MetricsServer | None = None
        for cam, pub in self.publishers.items():
            pub.acked_latency_hook = self._acked_for(cam)

    def _acked_for(self, camera_id: str) -> Any:
        counter = self.metrics.published.labels(camera=camera_id)

        def acked(event_id: str) -> None:
            counter.inc()
            self._acked(event_id)

        return acked

    def _refresh_metrics(self) -> None:
        for cam, stats in self.stats.items():
            self.metrics.fps.labels(camera=cam).set(round(stats.fps(), 3))
            if stats.decidable_share is not None:
                self.metrics.decidable.labels(camera=cam).set(round(stats.decidable_share, 4))
            if stats.brightness is not None:
                self.metrics.brightness.labels(camera=cam).set(round(stats.brightness, 1))
            reader = self.readers.get(cam)
            if reader is not None:
                self.metrics.dropped.labels(camera=cam).set(reader.stats.frames_dropped)
                self.metrics.reconnects.labels(camera=cam).set(reader.stats.reconnects)
                self.metrics.frame_age.labels(camera=cam).set(round(age(reader.stats.last_frame_monotonic), 3))
        try:
            self.metrics.outbox.set(self.outbox.depth())
        except Exception:  # the outbox closed while stopping
            log.debug("outbox depth unavailable", exc_info=True)
        self.metrics.gallery.set(len(self.gallery))

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy when every running camera delivered a frame within the last 30 seconds."""
        cameras = {}
        ok = True
        for cam in self.stats:
            reader = self.readers.get(cam)
            last = age(reader.stats.last_frame_monotonic) if reader else 1e9
            fresh = cam in self.finished or last < STALE_SECONDS
            ok = ok and fresh
            cameras[cam] = {
                "ok": fresh,
                "last_frame_age_s": round(min(last, 1e6), 1),
                "finished": cam in self.finished,
                "analysed_fps": round(self.stats[cam].fps(), 2),
            }
        return ok, {"cameras": cameras, "outbox_depth": self.outbox.depth()}

    def _acked(self, event_id: str) -> None:
        pending = self.pending.pop(event_id, None)
        if pending is None:
            return
        captured, member = pending
        self.latencies_ms.append((time.monotonic() - captured) * 1000)
        if member is not None:
            self.greeted.append((member, datetime.now(UTC)))

    def _queue(self, camera_id: str, events: Sequence[PipelineEvent], captured: float) -> None:
        for ev in events:
            self.outbox.put(
                ev.event_id,
                camera_id,
                topic(self.config.store.id, camera_id, KIND_OF[ev.type]),
                ev.model_dump_json().encode(),
            )
            self.pending[ev.event_id] = (captured, ev.member_id if isinstance(ev, ArrivalEvent) else None)
            while len(self.pending) > PENDING_CAPTURES:
                self.pending.popitem(last=False)
            self.stats[camera_id].events += 1
            log.info("camera %s: %s event %s", camera_id, ev.type, ev.event_id)

    def _pipeline(self, camera: CameraConfig) -> CameraPipeline:
        return build_pipeline(
            self.config, camera, self.fm, self.gallery, self.cooldown, self.visitors, self.metrics.observe
        )

    def _analyse(self, camera: CameraConfig, pipeline: CameraPipeline, frame: Frame) -> None:
        t0 = time.monotonic()
        events = pipeline.process(frame)
        stats = self.stats[camera.id]
        stats.analysed += 1
        stats.decidable_share = pipeline.decidable_share
        stats.brightness = pipeline.lift.last_brightness
        stats.analyse_seconds.append(time.monotonic() - t0)
        if len(stats.analyse_seconds) > 1000:
            del stats.analyse_seconds[:500]
        self._queue(camera.id, events, t0)

    def _run_file(self, camera: CameraConfig) -> None:
        pub = self.publishers[camera.id]
        reader = FileReader(camera.id, camera.source, camera.analysis_fps, realtime=self.config.edge.file_realtime)
        self.readers[camera.id] = reader
        pipeline = self._pipeline(camera)
        pub.set_status("online", detail="file source")
        last_ts = reader.start
        try:
            while not self.stop_event.is_set():
                frame = reader.next()
                if frame is None:
                    break
                last_ts = frame.ts
                self._analyse(camera, pipeline, frame)
            self._queue(camera.id, pipeline.finish(last_ts), time.monotonic())
            self.finished.add(camera.id)
        finally:
            reader.stop()

    def _run_live(self, camera: CameraConfig) -> None:
        pub = self.publishers[camera.id]
        stats = self.stats[camera.id]

        def status(state: str, detail: str) -> None:
            log.info("camera %s: %s %s", camera.id, state, detail)
            pub.set_status(state, stats.fps(), detail)

        reader = LiveReader(camera.id, camera.source, status, self.config.edge.reconnect_max_seconds)
        self.readers[camera.id] = reader
        pipeline = self._pipeline(camera)
        period = 1.0 / camera.analysis_fps
        reader.start()
        next_at = time.monotonic()
        try:
            while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
                next_at = time.monotonic() + period
                frame = reader.latest(timeout=period)
                if frame is None:
                    self._queue(camera.id, pipeline.flush(datetime.now(UTC)), time.monotonic())
                    continue
                self._analyse(camera, pipeline, frame)
        finally:
            reader.stop()
            self._queue(camera.id, pipeline.finish(datetime.now(UTC)), time.monotonic())

    def _camera_thread(self, camera: CameraConfig) -> None:
        backoff = 1.0
        while not self.stop_event.is_set():
            try:
                if is_live(camera.source):
                    self._run_live(camera)
                else:
                    self._run_file(camera)
                return
            except Exception as exc:  # never die of a camera: log, report, retry
                if isinstance(exc, StoreLensError):  # expected (a source that will not open): one line
                    log.error("camera %s: %s", camera.id, exc)
                else:  # a bug: with its traceback
                    log.exception("camera %s failed", camera.id)
                self.failures[camera.id] = str(exc)
                self.publishers[camera.id].set_status("reconnecting", detail=str(exc)[:200])
                if not is_live(camera.source) or self.stop_event.wait(backoff):
                    return
                backoff = min(backoff * 2, self.config.edge.reconnect_max_seconds)

    def run(self) -> int:
        """Run until stopped or until every file source is done and delivered; returns an exit code."""
        for pub in self.publishers.values():
            pub.start()
        edge = self.config.edge
        if edge.metrics_port >= 0:
            try:
                self.metrics_server = MetricsServer(
                    edge.metrics_host, edge.metrics_port, self.metrics, self._refresh_metrics, self.health
                )
                self.metrics_server.start()
            except OSError as exc:  # metrics are not worth stopping the cameras for
                log.error("cannot serve /health and /metrics on %s:%d: %s", edge.metrics_host, edge.metrics_port, exc)
        deliver = Delivery(list(self.publishers.values()), self.gallery)
        retention = MemberRetention(self.gallery, self.rules.member_retention_days)
        deliver.start()
        retention.start()
        try:
            cams = [
                threading.Thread(target=self._camera_thread, args=(c,), name=f"camera-{c.id}", daemon=True)
                for c in self.config.cameras
            ]
            for t in cams:
                t.start()
            while any(t.is_alive() for t in cams) and not self.stop_event.wait(0.2):
                pass
            if not self.stop_event.is_set():  # every source was a file and has ended
                return self._drain(self.config.edge.drain_timeout_seconds)
            for t in cams:  # stopping: each camera ends its tracks and queues its last events
                t.join(timeout=20)
            self._drain(min(5.0, self.config.edge.drain_timeout_seconds))
            return 0
        finally:
            self.stop_event.set()
            stop_in_order(
                [
                    ("delivery", lambda: deliver.stop(5)),
                    ("the retention purge", lambda: retention.stop(5)),
                    *[(f"camera {cam}'s publisher", pub.stop) for cam, pub in self.publishers.items()],
                    ("metrics", self.metrics_server.stop if self.metrics_server is not None else lambda: None),
                    ("the outbox", self.outbox.close),
                    ("the gallery", self.gallery.close),
                ]
            )

    def _drain(self, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while self.outbox.depth() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.outbox.depth()
        if left:
            log.error(
                "%d event(s) not yet acknowledged by the broker; they stay in %s for the next run",
                left,
                self.outbox.path,
            )
            return 1
        return 0 if not self.failures else 1

    def stop(self) -> None:
        """Ask every worker to stop."""
        self.stop_event.set()

    def summary(self) -> dict[str, object]:
        """Counts and timings of this run."""
        lat = sorted(self.latencies_ms)
        return {
            cam: {
                "analysed": s.analysed,
                "events": s.events,
                "fps": round(s.fps(), 2),
                "median_analyse_ms": round(statistics.median(s.analyse_seconds) * 1000, 1)
                if s.analyse_seconds
                else None,
            }
            for cam, s in self.stats.items()
        } | {
            "latency_ms_p50": lat[len(lat) // 2] if lat else None,
            "latency_ms_p95": lat[int(len(lat) * 0.95)] if lat else None,
        }
