"""Nothing is lost: a broker that goes away mid-run, and an edge process killed with SIGKILL mid-run.

Every event the edge process logs as created must reach the subscriber (at least once); counted
after deduplication by event_id, each arrives exactly once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from storelens.edge.outbox import Outbox
from tests.helpers.cli import STORELENS
from tests.helpers.configs import edge_config, write_toml
from tests.helpers.services import Collector, Mosquitto, RtspServer

EVENT_LINE = re.compile(r"camera \S+: (\w+) event ([0-9a-f-]{36})")


def start_edge(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log.open("ab") as out:
        return subprocess.Popen([STORELENS, "-v", "edge", "run", "--config", str(config)],
                                stdout=out, stderr=out, env=env)  # fmt: skip


def created_events(log: Path) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in EVENT_LINE.finditer(log.read_text(errors="replace"))}


def received_ids(collector: Collector) -> list[str]:
    with collector.lock:
        return [p["event_id"] for t, p in collector.messages if not t.endswith("/status")]


def test_broker_outage_mid_run_loses_nothing(video, truth, members_gallery, tmp_path, prepared_models_dir) -> None:
    broker = Mosquitto(tmp_path).start()
    collector = Collector(broker.port)
    gallery = tmp_path / "gallery"
    shutil.copytree(members_gallery, gallery)
    # slow the run to real time on a live stream so the outage falls mid-run
    rtsp = RtspServer(video, tmp_path).start()
    data = edge_config(tmp_path, rtsp.url, gallery, broker.url, truth, prepared_models_dir)
    config = write_toml(tmp_path / "edge.toml", data)
    log = tmp_path / "edge.log"
    edge = start_edge(config, log)
    try:
        assert collector.wait_for(lambda c: c.events("vip_arrival"), 60), log.read_text()[-3000:]
        broker.stop()  # the broker goes away mid-run
        time.sleep(8)
        queued = Outbox(tmp_path / "outbox.sqlite").depth()
        broker.start()  # and comes back on the same port
        assert collector.wait_for(lambda c: len(created_events(log)) >= 6, 90)
        time.sleep(3)
    finally:
        edge.send_signal(signal.SIGTERM)
        edge.wait(60)
        rtsp.stop()
    created = created_events(log)
    assert collector.wait_for(lambda c: set(created) <= set(received_ids(c)), 30), set(created) - set(
        received_ids(collector)
    )
    assert queued > 0, "events were queued while the broker was away"
    assert len(set(received_ids(collector))) == len(created_events(log))
    assert Outbox(tmp_path / "outbox.sqlite").depth() == 0
    collector.stop()
    broker.stop()


def test_sigkill_mid_run_then_restart_loses_nothing(video, truth, members_gallery, tmp_path, prepared_models_dir):
    broker = Mosquitto(tmp_path).start()
    collector = Collector(broker.port)
    gallery = tmp_path / "gallery"
    shutil.copytree(members_gallery, gallery)
    rtsp = RtspServer(video, tmp_path).start()
    config = write_toml(
        tmp_path / "edge.toml", edge_config(tmp_path, rtsp.url, gallery, broker.url, truth, prepared_models_dir)
    )
    log = tmp_path / "edge.log"
    edge = start_edge(config, log)
    try:
        assert collector.wait_for(lambda c: c.events("vip_arrival"), 60), log.read_text()[-3000:]
        broker.stop()  # events pile up in the outbox ...
        deadline = time.monotonic() + 60
        while Outbox(tmp_path / "outbox.sqlite").depth() < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        pending_at_kill = Outbox(tmp_path / "outbox.sqlite").depth()
        edge.send_signal(signal.SIGKILL)  # ... and the process is killed
        edge.wait(10)
        assert pending_at_kill >= 2
        before_restart = set(created_events(log))
        broker.start()
        edge = start_edge(config, log)  # restarted with the same outbox
        assert collector.wait_for(lambda c: before_restart <= set(received_ids(c)), 60), before_restart - set(
            received_ids(collector)
        )
    finally:
        edge.send_signal(signal.SIGTERM)
        edge.wait(60)
        rtsp.stop()
    created = created_events(log)
    assert collector.wait_for(lambda c: set(created) <= set(received_ids(c)), 30)
    assert len(set(received_ids(collector))) == len(created)  # exactly once after deduplication
    statuses = collector.statuses()
    assert "offline" in statuses and statuses[-1] == "offline"
    collector.stop()
    broker.stop()
