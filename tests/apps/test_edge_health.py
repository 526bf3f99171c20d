"""Health and Prometheus metrics of a running edge process on a live RTSP camera."""

from __future__ import annotations

import shutil
import threading
import time

import httpx2 as httpx
from prometheus_client.parser import text_string_to_metric_families

from storelens.apps.edge import EdgeApp
from storelens.config import Config
from tests.helpers.configs import edge_config
from tests.helpers.services import RtspServer


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_and_metrics_while_running(
    video, truth, members_gallery, broker, collector, face_models, tmp_path, prepared_models_dir
) -> None:
    gallery = tmp_path / "g"
    shutil.copytree(members_gallery, gallery)
    rtsp = RtspServer(video, tmp_path).start()
    config = Config.model_validate(edge_config(tmp_path, rtsp.url, gallery, broker.url, truth, prepared_models_dir))
    runner = EdgeApp(config, face_models)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert collector.wait_for(lambda c: c.events("vip_arrival"), 60)
        base = f"http://127.0.0.1:{runner.metrics_server.port}"
        health = httpx.get(base + "/health")
        assert health.status_code == 200 and health.json()["cameras"]["entrance"]["ok"] is True
        time.sleep(1.0)
        m = samples(httpx.get(base + "/metrics").text)
        cam = (("camera", "entrance"),)
        assert m[("storelens_camera_analysed_fps", cam)] > 0
        assert m[("storelens_camera_last_frame_age_seconds", cam)] < 5
        assert m[("storelens_camera_reconnects", cam)] == 0
        assert 100 < m[("storelens_camera_frame_brightness", cam)] < 160  # the sample video, as delivered
        assert m[("storelens_detector_seconds_count", ())] >= 3
        assert m[("storelens_recogniser_seconds_count", ())] >= 1
        assert m[("storelens_events_published_total", cam)] >= 1
        assert m[("storelens_gallery_vectors", ())] == 2
        assert ("storelens_outbox_depth", ()) in m
        assert httpx.get(base + "/nope").status_code == 404
    finally:
        runner.stop()
        thread.join(30)
        rtsp.stop()
