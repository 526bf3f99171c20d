"""The API from the command line: tokens, ``api serve`` with a real broker, ``report footfall``."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import httpx2 as httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storelens.edge_events import FootfallEvent, topic
from tests.helpers.cli import REPO, STORELENS, run_cli
from tests.helpers.configs import write_toml
from tests.helpers.services import free_port, wait_port


def test_serve_ingest_and_report(tmp_path, broker) -> None:
    port = free_port()
    cfg = write_toml(
        tmp_path / "s.toml",
        {
            "store": {"id": "paris-01"},
            "cameras": [{"id": "entrance", "source": "rtsp://x/1"}],
            "mqtt": {"url": broker.url},
            "api": {"port": port, "database_url": f"sqlite:///{tmp_path / 'events.sqlite'}"},
        },
    )
    made = run_cli("api", "token", "create", "--json", "--config", str(cfg), "--name", "hq", "--role", "admin")
    assert made.returncode == 0, made.stderr
    twice = run_cli("api", "token", "create", "--config", str(cfg), "--name", "hq", "--role", "associate")
    assert twice.returncode == 2 and twice.stderr.count("\n") == 1 and "'hq' exists already" in twice.stderr
    admin = {"Authorization": f"Bearer {json.loads(made.stdout)['token']}"}

    def serve() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [STORELENS, "api", "serve", "--config", str(cfg)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_port(port, 30)
        deadline = time.monotonic() + 15  # the ingest subscribes
        while httpx.get(f"http://127.0.0.1:{port}/api/v1/health").json()["mqtt"] != "subscribed":
            assert time.monotonic() < deadline, "the API's MQTT ingest did not subscribe"
            time.sleep(0.1)
        return proc

    def footfall(hour: int, entries: int) -> str:
        start, end = f"2026-11-21T{hour:02d}:00:00.000Z", f"2026-11-21T{hour:02d}:15:00.000Z"
        return FootfallEvent(store_id="paris-01", camera_id="entrance", interval_start=start, interval_end=end,
                             entries=entries, unique_visitors=entries, vip_arrivals=0).model_dump_json()  # fmt: skip

    def stored(n: int) -> list[dict]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            events = httpx.get(f"http://127.0.0.1:{port}/api/v1/events", headers=admin).json()
            if len(events) >= n:
                break
            time.sleep(0.1)
        return events

    server = serve()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-pub")
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health").json()
        assert (health["status"], health["events"]) == ("ok", 0)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        subject = topic("paris-01", "entrance", "footfall")
        for hour, entries in ((9, 5), (10, 3)):
            payload = footfall(hour, entries)
            for _ in range(2):  # redelivered: stored once
                pub.publish(subject, payload, qos=1).wait_for_publish(5)
        assert len(stored(2)) == 2
        server.kill()  # kill -9: the API is gone while the store goes on
        server.wait(10)
        pub.publish(subject, footfall(11, 4), qos=1).wait_for_publish(5)
        server = serve()
        assert sorted(e["event"]["entries"] for e in stored(3)) == [3, 4, 5]  # nothing lost meanwhile
        pub.loop_stop()
    finally:
        server.terminate()
        server.wait(10)
    report = run_cli(
        "report",
        "footfall",
        "--config",
        str(cfg),
        "--from",
        "2026-11-21",
        "--to",
        "2026-11-22",
        "--interval",
        "1d",
        "--chart",
        str(tmp_path / "chart.png"),
    )
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(io.StringIO(report.stdout)))
    assert [(r["camera_id"], r["entries"]) for r in rows] == [("entrance", "12")]
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
    xlsx = run_cli(
        "report", "footfall", "--config", str(cfg), "--from", "2026-11-21", "--to", "2026-11-22", "--format", "xlsx"
    )
    assert xlsx.returncode == 2 and "--out" in xlsx.stderr
    bad = run_cli("report", "footfall", "--config", str(cfg), "--from", "monday", "--to", "2026-11-22")
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
    # the contract's form, without --config: the default database in $STORELENS_HOME, whatever the current folder
    home = tmp_path / "home"
    home.mkdir()
    (home / "storelens-events.sqlite").write_bytes((tmp_path / "events.sqlite").read_bytes())
    plain = run_cli(
        "report",
        "footfall",
        "--from",
        "2026-11-21T00:00Z",
        "--to",
        "2026-11-22T00:00Z",
        "--interval",
        "1h",
        "--format",
        "json",
        cwd=tmp_path,
        env={"STORELENS_HOME": str(home)},
    )
    assert plain.returncode == 0, plain.stderr
    assert [(r["interval_start"][11:16], r["entries"]) for r in json.loads(plain.stdout)] == [
        ("09:00", 5),
        ("10:00", 3),
        ("11:00", 4),
    ]
