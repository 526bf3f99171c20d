"""The edge process, wired in one place: models, gallery, outbox, transports, per-camera pipelines, threads.

Start steps, in order (:meth:`EdgeApp.run`): publishers connect; /health and /metrics serve; the
delivery thread drains the outbox; one thread per camera runs its :class:`storelens.edge.camera_loop.CameraLoop`
(read, analyse, queue; reconnect with backoff). ``run`` returns after stopping everything in reverse, in its
``finally``. The loops themselves live in ``edge/``: this module only builds and wires them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from storelens.apps.faces import load_face_models, load_person_detector
from storelens.config import CameraConfig, Config
from storelens.edge.camera_loop import CameraLoop, DeliveryTimes
from storelens.edge.footfall import FootfallAggregator
from storelens.edge.metrics import STALE_SECONDS, EdgeMetrics, MetricsServer, age
from storelens.edge.motion import MotionGate
from storelens.edge.outbox import Outbox
from storelens.edge.pipeline import CameraPipeline, decision_policy
from storelens.edge.publisher import CameraPublisher, camera_transport
from storelens.edge.track import PersonTracker
from storelens.edge.upkeep import Delivery, MemberRetention
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.exposure import DarkFrameLift
from storelens.gallery.factory import open_gallery
from storelens.gallery.gallery import Gallery
from storelens.stage_messages import FaceModels, PersonFinder
from storelens.workers import stop_in_order

log = logging.getLogger(__name__)


def build_pipeline(
    config: Config,
    camera: CameraConfig,
    face_models: FaceModels,
    gallery: Gallery,
    cooldown: ArrivalCooldown,
    visitors: AnonymousRegistry,
    timing: Callable[[str, float], None] | None = None,
    people: PersonFinder | None = None,
) -> CameraPipeline:
    """One camera's pipeline, each of its parts given the settings it needs (and only those).

    The camera's role and the privacy rules decide here, once, whether this camera looks for faces, whether
    they are embedded and whether strangers are re-identified; a camera that counts runs ``people``.
    """
    edge = config.edge
    rules = config.privacy_rules()
    recognises = config.recognises(camera)
    settle = max(1, round(edge.line_settle_seconds * camera.analysis_fps))
    return CameraPipeline(
        store_id=config.store.id,
        camera=camera,
        min_face_px=config.min_face_px_for(camera),
        face_models=face_models,
        gallery=gallery,
        policy=decision_policy(edge, gallery.policy, recognises),
        tracker=PersonTracker(camera.analysis_fps, edge.track_lost_seconds),
        footfall=FootfallAggregator(
            config.store.id,
            camera.id,
            edge.footfall_interval_minutes,
            rules.visitor_reid,
            camera.entry_line if camera.counts else None,
            settle,
            edge.line_band_px,
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
        people=people if camera.counts else None,
        find_faces=recognises,
    )


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
        # One person detector for every camera that counts (none loaded where no camera counts).
        self.people = load_person_detector(config) if any(c.counts for c in config.cameras) else None
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
        self.times = DeliveryTimes()
        self.metrics = EdgeMetrics()
        self.loops = {
            c.id: CameraLoop(
                store,
                c,
                config.edge,
                partial(self._pipeline, c),
                self.publishers[c.id],
                self.outbox,
                self.times,
                self.stop_event,
            )
            for c in config.cameras
        }
        self.metrics_server: MetricsServer | None = None
        for cam, pub in self.publishers.items():
            pub.acked_latency_hook = self._acked_for(cam)

    def _acked_for(self, camera_id: str) -> Any:
        counter = self.metrics.published.labels(camera=camera_id)

        def acked(event_id: str) -> None:
            counter.inc()
            self.times.acked(event_id)

        return acked

    def _pipeline(self, camera: CameraConfig) -> CameraPipeline:
        return build_pipeline(
            self.config,
            camera,
            self.fm,
            self.gallery,
            self.cooldown,
            self.visitors,
            self.metrics.observe,
            self.people,
        )

    def _refresh_metrics(self) -> None:
        for cam, loop in self.loops.items():
            stats = loop.stats
            self.metrics.fps.labels(camera=cam).set(round(stats.fps(), 3))
            if stats.decidable_share is not None:
                self.metrics.decidable.labels(camera=cam).set(round(stats.decidable_share, 4))
            if stats.brightness is not None:
                self.metrics.brightness.labels(camera=cam).set(round(stats.brightness, 1))
            reader = loop.reader
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
        for cam, loop in self.loops.items():
            last = age(loop.reader.stats.last_frame_monotonic) if loop.reader else 1e9
            fresh = loop.finished or last < STALE_SECONDS
            ok = ok and fresh
            cameras[cam] = {
                "ok": fresh,
                "last_frame_age_s": round(min(last, 1e6), 1),
                "finished": loop.finished,
                "analysed_fps": round(loop.stats.fps(), 2),
            }
        return ok, {"cameras": cameras, "outbox_depth": self.outbox.depth()}

    def run(self) -> int:
        """Run until stopped or until every file source is done and delivered; returns an exit code.

        Start steps, in order: the publishers connect; /health and /metrics serve; delivery and the retention
        purge start; one thread per camera. Everything is stopped in reverse in the ``finally``.
        """
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
                threading.Thread(target=loop.run, name=f"camera-{cam}", daemon=True) for cam, loop in self.loops.items()
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
        return 0 if not any(loop.failure for loop in self.loops.values()) else 1

    def stop(self) -> None:
        """Ask every worker to stop."""
        self.stop_event.set()

    def summary(self) -> dict[str, object]:
        """Counts and timings of this run."""
        cameras: dict[str, object] = {cam: loop.stats.summary() for cam, loop in self.loops.items()}
        return cameras | self.times.percentiles()
