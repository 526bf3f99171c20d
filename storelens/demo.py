"""``storelens demo``: the main job on embedded defaults.

Prepares the models if needed, builds the sample store-entrance video if needed, enrols the sample's
members (with consent records and member cards) and its one member of staff, imports a small synthetic
CRM, catalogue and POS history (seeded: cards show purchases, value and recommendations, and today's
conversion), starts a broker (Mosquitto when installed, otherwise
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
from storelens.api.imports import Kind
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
from storelens.sample_videos.members import enrol_scenario_members, enrol_scenario_staff
from storelens.sample_videos.photos import fetch_photos
from storelens.sample_videos.shop import generate_shop

log = logging.getLogger(__name__)

# What the demo's member cards add to the synthetic CRM (the scenario's members; made up).
CARDS = {
    "M-OBAMA": {"tier": "Platinum", "notes": "likes to be greeted by name"},
    "M-BIDEN": {"tier": "Gold", "notes": "asks about new arrivals"},
}
SHOP_MEMBERS, SHOP_TRANSACTIONS, SHOP_RECENT = 300, 4000, 5  # the synthetic history (sample_videos/shop.py)


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
            + (f", {payload['staff_excluded']} staff passes not counted" if payload.get("staff_excluded") else "")
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
        names, staff = enrol(config, fm, truth)
        api = ApiApp(config, f"StoreLens demo ({config.store.id})")
        feed: list[dict[str, Any]] = []
        subscriber = subscribe(broker.port, feed, names)
        code, interrupted = 1, False
        try:
            api.start()
            shop = generate_shop(
                work / "shop", config.store.id, SHOP_MEMBERS, SHOP_TRANSACTIONS, named=names, recent=SHOP_RECENT
            )
            files: list[tuple[Kind, Path]] = [
                ("products", shop.products),
                ("members", shop.members),
                ("transactions", shop.transactions),
            ]
            for kind, path in files:
                with path.open("rb") as fh:
                    say(api.services.store.import_file(kind, fh, path.name).summary())
            for member_id, card in CARDS.items():
                api.services.store.put_member(member_id, card)
            api.insights.poke()
            api.insights.rebuilt.wait(60)
            token = new_token()
            api.services.store.add_token(token, "demo-ipad", "associate")
            url = f"http://127.0.0.1:{config.api.port}/"
            print(f"StoreLens demo: store {config.store.id}, camera {truth['camera']['id']}, video {video.name}")
            print(f"Members enrolled with consent: {', '.join(f'{n} ({m})' for m, n in names.items())}")
            print(f"Staff list (never announced or counted): {', '.join(f'{n} ({m})' for m, n in staff.items())}")
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
                sold = shop.recent
                entries = sum(e["entries"] for e in feed if e["type"] == "footfall")
                if entries:
                    print(f"  {'conversion':<16} {sold} transactions / {entries} entries = {sold / entries:.2f}")
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


def enrol(config: Config, fm: FaceModels, truth: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Enrol the scenario's members and staff; returns (member id -> name, staff id -> name)."""
    gallery = open_gallery(config, fm.recogniser_spec)
    try:
        members = enrol_scenario_members(gallery, fm, config, truth, "vip-recognition")
        return members, enrol_scenario_staff(gallery, fm, config, truth)
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
    exp = truth["expected_with_staff"]  # the demo enrols the scenario's staff
    arrivals = sorted(e["member_id"] for e in feed if e["type"] == "vip_arrival")
    entries = sum(e["entries"] for e in feed if e["type"] == "footfall")
    footfall = [e for e in feed if e["type"] == "footfall"]
    staff = sum(e.get("staff_excluded", 0) for e in footfall)
    counted = all(e.get("unique_visitors_available", True) for e in footfall)
    unique = sum(e["unique_visitors"] for e in footfall)
    rows = [
        ("entries", entries, exp["entries"]),
        ("staff excluded", staff, exp["staff_excluded"]),
        ("unique visitors", unique if counted else "unavailable (privacy rules)", exp["unique_visitors"]),
        ("VIP arrivals", ", ".join(arrivals), ", ".join(exp["arrivals"])),
    ]
    print("\nOutcome against the sample's ground truth:")
    for name, got, want in rows:
        print(f"  {name:<16} {got!s:<22} expected {want}")
    ok = abs(entries - exp["entries"]) <= 1 and (not counted or abs(unique - exp["unique_visitors"]) <= 1)
    ok = ok and staff == exp["staff_excluded"]
    return ok and arrivals == sorted(exp["arrivals"]) and code == 0 and not interrupted
