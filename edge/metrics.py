"""Health and Prometheus metrics of the edge process, served on a small HTTP port.

``GET /health`` answers JSON (200 when every camera delivered a frame recently, 503 otherwise) and
``GET /metrics`` the Prometheus text format. Each metric's meaning is in its help text and the manual
(docs/developer.md).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)
STALE_SECONDS = 30.0


class EdgeMetrics:
    """The edge process's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fps = Gauge(
            "storelens_camera_analysed_fps", "Frames analysed per second, per camera", ["camera"], registry=r
        )
        self.dropped = Gauge(
            "storelens_camera_frames_dropped",
            "Frames a live reader skipped to stay current (newest-frame policy), since start",
            ["camera"],
            registry=r,
        )
        self.reconnects = Gauge(
            "storelens_camera_reconnects", "Reconnection attempts since start", ["camera"], registry=r
        )
        self.frame_age = Gauge(
            "storelens_camera_last_frame_age_seconds", "Seconds since the camera's last frame", ["camera"], registry=r
        )
        self.decidable = Gauge(
            "storelens_camera_decidable_track_share",
            "Share of the camera's last ended tracks (up to 1000) with at least one face good enough to decide "
            "(it passed the size, sharpness, pose and exposure gate); falls when a camera drifts dark or out of focus",
            ["camera"],
            registry=r,
        )
        self.brightness = Gauge(
            "storelens_camera_frame_brightness",
            "Mean grey level (0-255) of the camera's last analysed frame, as delivered, before any dark-frame lift",
            ["camera"],
            registry=r,
        )
        self.detector = Histogram(
            "storelens_detector_seconds",
            "Face detector time per analysed frame",
            registry=r,
            buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64),
        )
        self.recogniser = Histogram(
            "storelens_recogniser_seconds",
            "Recogniser time per batch of faces",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16),
        )
        self.outbox = Gauge("storelens_outbox_depth", "Events waiting for the broker's acknowledgement", registry=r)
        self.published = Counter(
            "storelens_events_published", "Events acknowledged by the broker", ["camera"], registry=r
        )
        self.gallery = Gauge("storelens_gallery_vectors", "Face vectors in the gallery", registry=r)

    def observe(self, stage: str, seconds: float) -> None:
        """Record a detector or recogniser timing."""
        (self.detector if stage == "detect" else self.recogniser).observe(seconds)

    def text(self) -> bytes:
        """The Prometheus exposition."""
        return generate_latest(self.registry)


class MetricsServer:
    """``/health`` and ``/metrics`` on ``host:port`` in a thread.

    Args:
        host: address to listen on.
        port: port (0 picks a free one; see :attr:`port`).
        refresh: called before answering, to bring gauges up to date.
        metrics: what to serve.
        health: returns (healthy, details).
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: EdgeMetrics,
        refresh: Callable[[], None],
        health: Callable[[], tuple[bool, dict[str, Any]]],
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                refresh()
                if self.path == "/metrics":
                    self._send(200, outer.metrics.text(), CONTENT_TYPE_LATEST)
                elif self.path == "/health":
                    ok, details = health()
                    self._send(
                        200 if ok else 503,
                        json.dumps({"status": "ok" if ok else "degraded", **details}).encode(),
                        "application/json",
                    )
                else:
                    self._send(404, b'{"detail": "not found"}', "application/json")

            def _send(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.metrics = metrics
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    def start(self) -> None:
        """Serve."""
        self.thread.start()
        log.info("health and metrics on port %d", self.port)

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


def age(last_monotonic: float) -> float:
    """Seconds since a monotonic time stamp (a large number when there was none)."""
    return time.monotonic() - last_monotonic if last_monotonic else 1e9
