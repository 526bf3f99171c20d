"""``storelens demo``: the main job on embedded defaults.

Prepares the models if needed, builds the sample store-entrance video if needed, enrols the sample's
members (with consent records and member cards), starts a broker (Mosquitto when installed, otherwise
an embedded one), the store API with the associate's iPad page, and the edge pipeline on the video.
It prints the page URL and a sign-in token, shows each event as the associate's feed would, and
compares the outcome with the video's ground truth. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storelens.api.auth import new_token
from storelens.apps.api import ApiApp
from storelens.apps.edge import EdgeApp
from storelens.apps.faces import load_face_models
from storelens.broker import LocalBroker, free_port
from storelens.config import Config
from storelens.events import topic_filter
from storelens.gallery.factory import open_gallery
from storelens.manifest import models_dir
from storelens.messages import FaceModels
from storelens.models.prepare import prepare_all
from storelens.sample_videos.generate import load_truth, sample_video
from storelens.sample_videos.members import enrol_scenario_members
from storelens.sample_videos.photos import fetch_photos

log = logging.getLogger(__name__)

# What the demo's member cards say (the scenario's members; sizes and tastes are made up).
CARDS = {
    "M-OBAMA": {
        "tier": "Platinum",
        "member_code": "PLAT-0044",
        "phone": "+12025550144",
        "sizes": {"suit": "40R", "shirt": "15.5/34"},
        "preferences": "dark suits, white shirts",
        "notes": "likes to be greeted by name",
    },
    "M-BIDEN": {
        "tier": "Gold",
        "member_code": "GOLD-0046",
        "phone": "+12025550146",
        "sizes": {"jacket": "42R", "shoes": "10"},
        "preferences": "aviator sunglasses, navy",
        "notes": "asks about new arrivals",
    },
}


def describe(payload: dict[str, Any], names: dict[str, str]) -> str:
    """One line of the feed for an event."""
    ts = payload.get("ts", payload.get("interval_end", ""))[11:19]
    kind = payload.get("type")
    if kind == "vip_arrival":
        who = names.get(payload["member_id"], payload["member_id"])
        return f"{ts}  VIP ARRIVAL  {who} ({payload['member_id']}), similarity {payload['similarity']:.3f}"
    if kind == "visitor":
        again = "returning " if payload["returning"] else ""
        where = "entered" if payload["entered"] else "passed by"
        return f"{ts}  visitor      {again}{payload['anon_id']} {where}"
    if kind == "footfall":
        part = " (partial)" if payload.get("partial") else ""
        unique = payload["unique_visitors"] if payload.get("unique_visitors_available", True) else "(unavailable)"
        return (
            f"{ts}  footfall     {payload['interval_start'][11:16]}-{payload['interval_end'][11:16]}{part}: "
            f"{payload['entries']} entries, {unique} unique visitors, "
            f"{payload['vip_arrivals']} VIP arrivals"
        )
    return f"{ts}  status       camera {payload.get('camera_id')} {payload.get('state')}"


def run_demo(args: argparse.Namespace) -> int:
    """Run the main job; returns 0 when the outcome matches the sample's ground truth."""

    def say(msg: str) -> None:
        sys.stderr.write(f"storelens: {msg}\n")

    directory = models_dir(args.models_dir)
    prepare_all(directory, say)
    truth = load_truth()
    fetch_photos()
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda s, f: stop.set())
    with tempfile.TemporaryDirectory(prefix="storelens-demo-") as tmp:
        work = Path(tmp)
        broker = LocalBroker().start()
        say(f"MQTT broker: {broker.kind} at {broker.url}")
        config = Config.model_validate(
            {
                "store": {"id": "demo-store", "name": "StoreLens demo"},
                "cameras": [
                    {"id": truth["camera"]["id"], "source": "pending", "entry_line": truth["camera"]["entry_line"]}
                ],
                "models": {"dir": str(directory)},
                "gallery": {"dir": str(work / "gallery")},
                "edge": {"outbox": str(work / "outbox.sqlite"), "file_realtime": not args.fast, "metrics_port": 0},
                "mqtt": {"url": broker.url},
                "api": {
                    "port": free_port(),
                    "database_url": f"sqlite:///{work / 'events.sqlite'}",
                    "photos_dir": str(work / "photos"),
                },
            }
        )
        fm = load_face_models(config, directory)
        say("preparing the sample video (built once, about 30 s, then cached)")
        video = sample_video(fm)
        names = enrol(config, fm, truth)
        api = ApiApp(config, f"StoreLens demo ({config.store.id})")
        feed: list[dict[str, Any]] = []
        subscriber = subscribe(broker.port, feed, names)
        code, interrupted = 1, False
        try:
            api.start()
            for member_id, card in CARDS.items():
                api.services.store.put_member(member_id, {"name": names[member_id], **card})
            token = new_token()
            api.services.store.add_token(token, "demo-ipad", "associate")
            url = f"http://127.0.0.1:{config.api.port}/"
            print(f"StoreLens demo: store {config.store.id}, camera {truth['camera']['id']}, video {video.name}")
            print(f"Members enrolled with consent: {', '.join(f'{n} ({m})' for m, n in names.items())}")
            print(f"\nThe associate's iPad page: {url}\nSign-in token: {token}\n", flush=True)
            if not args.fast and stop.wait(8):  # time to open the page before people walk in
                interrupted = True
            if not interrupted:
                data = config.model_dump()
                data["cameras"][0]["source"] = str(video)
                runner = EdgeApp(Config.model_validate(data), fm)

                def relay() -> None:
                    stop.wait()
                    runner.stop()

                watcher = threading.Thread(target=relay, daemon=True)
                watcher.start()
                code = runner.run()
                interrupted = stop.is_set()
                time.sleep(1.0)
                ok = report(feed, truth, code, interrupted)
                code = 0 if ok else 1
            if not args.fast and not interrupted:
                print(f"\nThe page stays up at {url} (token above). Press Ctrl-C to stop.", flush=True)
                stop.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
            subscriber.disconnect()
            subscriber.loop_stop()
            api.stop()
            broker.stop()
            say("stopped")
        return code


def enrol(config: Config, fm: FaceModels, truth: dict[str, Any]) -> dict[str, str]:
    """Enrol the scenario's members; returns member id -> name."""
    gallery = open_gallery(config, fm.recogniser_spec)
    try:
        return enrol_scenario_members(gallery, fm, config, truth, "vip-recognition")
    finally:
        gallery.close()


def subscribe(port: int, feed: list[dict[str, Any]], names: dict[str, str]) -> mqtt.Client:
    """A subscriber that prints each event once (deduplicated by event_id)."""
    seen: set[str] = set()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="storelens-demo-feed")

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        payload = json.loads(msg.payload)
        key = payload.get("event_id")
        if key and key in seen:
            return
        if key:
            seen.add(key)
            feed.append(payload)
        print(describe(payload, names), flush=True)

    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic_filter(), qos=1)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.3)
    return client


def report(feed: list[dict[str, Any]], truth: dict[str, Any], code: int, interrupted: bool) -> bool:
    """Compare the events with the ground truth and print the verdict; True when they agree."""
    exp = truth["expected"]
    arrivals = sorted(e["member_id"] for e in feed if e["type"] == "vip_arrival")
    entries = sum(e["entries"] for e in feed if e["type"] == "footfall")
    footfall = [e for e in feed if e["type"] == "footfall"]
    counted = all(e.get("unique_visitors_available", True) for e in footfall)
    unique = sum(e["unique_visitors"] for e in footfall)
    rows = [
        ("entries", entries, exp["entries"]),
        ("unique visitors", unique if counted else "unavailable (privacy rules)", exp["unique_visitors"]),
        ("VIP arrivals", ", ".join(arrivals), ", ".join(exp["arrivals"])),
    ]
    print("\nOutcome against the sample's ground truth:")
    for name, got, want in rows:
        print(f"  {name:<16} {got!s:<22} expected {want}")
    ok = abs(entries - exp["entries"]) <= 1 and (not counted or abs(unique - exp["unique_visitors"]) <= 1)
    return ok and arrivals == sorted(exp["arrivals"]) and code == 0 and not interrupted
