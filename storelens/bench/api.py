"""``storelens bench`` part 4: how fast an arrival published on MQTT reaches the associates' iPads.

A real broker, the store API with its MQTT ingest, and several WebSocket clients (as iPads are);
arrivals are published at a steady rate and each client notes when each one arrives. Goal: p95 within
500 ms of the MQTT event.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from websockets.sync.client import connect

from storelens.apps.api import ApiApp
from storelens.books.token_book import new_token
from storelens.config import Config
from storelens.edge_events import ArrivalEvent, topic
from storelens.transport.local import LocalBroker, free_port

START = "<!-- storelens-bench:api:start -->"
END = "<!-- storelens-bench:api:end -->"


def measure_live(arrivals: int = 200, clients: int = 3, rate_hz: float = 20.0) -> dict[str, Any]:
    """Publish ``arrivals`` at ``rate_hz``; latency from publish to receipt on each of ``clients`` iPads."""
    broker = LocalBroker().start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.model_validate(
            {
                "store": {"id": "bench"},
                "cameras": [{"id": "entrance", "source": "x"}],
                "mqtt": {"url": broker.url},
                "gallery": {"dir": str(Path(tmp) / "g")},
                "api": {"port": free_port(), "database_url": f"sqlite:///{Path(tmp) / 'e.sqlite'}"},
            }
        )
        api = ApiApp(config, f"StoreLens demo ({config.store.id})")
        api.start()
        token = new_token()
        api.services.books.tokens.add_token(token, "bench-ipad", "associate")
        sent: dict[str, float] = {}
        latencies: list[float] = []
        lock = threading.Lock()
        ready = threading.Barrier(clients + 1)

        def ipad() -> None:
            with connect(f"ws://127.0.0.1:{config.api.port}/api/v1/live") as ws:
                ws.send(json.dumps({"token": token, "since_seq": 10**9}))
                json.loads(ws.recv())  # ready
                ready.wait()
                got = 0
                while got < arrivals:
                    msg = json.loads(ws.recv(timeout=30))
                    if msg.get("kind") != "arrival":
                        continue
                    now = time.monotonic()
                    with lock:
                        latencies.append((now - sent[msg["event"]["event_id"]]) * 1000)
                    got += 1

        threads = [threading.Thread(target=ipad) for _ in range(clients)]
        for t in threads:
            t.start()
        ready.wait()
        time.sleep(1.0)  # the ingest subscription is in place
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for i in range(arrivals):
            ev = ArrivalEvent(
                store_id="bench", camera_id="entrance", member_id=f"M-{i % 20}", similarity=0.95, track_id=i
            )
            with lock:
                sent[ev.event_id] = time.monotonic()
            pub.publish(topic("bench", "entrance", "arrival"), ev.model_dump_json(), qos=1)
            time.sleep(1.0 / rate_hz)
        for t in threads:
            t.join(60)
        pub.loop_stop()
        api.stop()
    broker.stop()
    lat = sorted(latencies)
    return {
        "part": "api",
        "broker": broker.kind,
        "arrivals": arrivals,
        "clients": clients,
        "rate_hz": rate_hz,
        "received": len(lat),
        "p50_ms": round(statistics.median(lat), 1),
        "p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1),
        "max_ms": round(lat[-1], 1),
    }


def api_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-4 section of docs/benchmarks.md."""
    return (
        "\n".join(
            [
                START,
                "## Part 4: live push to the iPads",
                "",
                f"- Machine: {machine}",
                f"- Date: {date}",
                f"- Command: `{command}`",
                f"- {r['arrivals']} arrivals published on MQTT ({r['broker']}) at {r['rate_hz']:g} per second; "
                f"the store API stores each one and pushes it with the member card to {r['clients']} WebSocket "
                "clients (iPads).",
                "",
                "| measure | value | goal |",
                "|---|---|---|",
                f"| arrivals received (all clients) | {r['received']} of {r['arrivals'] * r['clients']} | all |",
                f"| MQTT publish to iPad, p50 ms | {r['p50_ms']} | |",
                f"| MQTT publish to iPad, p95 ms | {r['p95_ms']} | <= 500 |",
                f"| MQTT publish to iPad, max ms | {r['max_ms']} | |",
                END,
            ]
        )
        + "\n"
    )
