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
import os
import pwd
import shutil
import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storelens.api.imports import Kind
from storelens.apps.api import ApiApp
from storelens.apps.edge import EdgeApp
from storelens.apps.faces import load_face_models
from storelens.atomic import write_file
from storelens.books.token_book import new_token
from storelens.cli.progress import Progress
from storelens.config import Config, MqttConfig, default_config, load_config
from storelens.edge_events import topic_filter
from storelens.errors import ConfigError
from storelens.gallery.factory import open_gallery
from storelens.manifest import models_dir
from storelens.models.prepare import prepare_all
from storelens.sample_videos.generate import load_truth, sample_video
from storelens.sample_videos.members import enrol_scenario_members, enrol_scenario_staff
from storelens.sample_videos.photos import fetch_photos
from storelens.sample_videos.shop import generate_shop
from storelens.stage_messages import FaceModels
from storelens.transport.broker_files import API_USER, EDGE_USER, write_store_broker
from storelens.transport.local import LocalBroker, free_port

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
            f"{payload['entries']} entries, {_counted(payload.get('exits', 0), 'exit', 'exits')}, "
            f"{_counted(payload.get('passers_by', 0), 'passer-by', 'passers-by')}, "
            f"{unique} unique visitors, {payload['vip_arrivals']} VIP arrivals"
            + (f", {payload['staff_excluded']} staff passes not counted" if payload.get("staff_excluded") else "")
        )
    return f"{ts}  status       camera {payload.get('camera_id')} {payload.get('state')}"


MARKER = ".storelens-demo"  # marks a folder the demo made, and may empty and make again


def store_folder(path: Path) -> Path:
    """The demo's store folder, empty: new, or one an earlier demo made (emptied); never someone else's files.

    Raises:
        ConfigError: the folder holds files the demo did not make.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--keep {path}: is a file; a folder is expected")
    if path.is_dir() and any(path.iterdir()):
        if not (path / MARKER).is_file():
            raise ConfigError(f"--keep {path}: holds files of its own, not a demo store's; choose a new folder")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by `storelens demo`; the next demo empties this folder\n", encoding="utf-8")
    return path.resolve()


def write_store_config(
    folder: Path, models: Path, video: Path, truth: dict[str, Any], port: int, mqtt_url: str
) -> Path:
    """``store.toml`` of the demo store: paths relative to its folder, the store's usual broker, the sample video."""
    camera = truth["camera"]
    line = camera["entry_line"]
    text = "\n".join(
        [
            "# The demo store (storelens demo). Paths are relative to this file's folder.",
            "# No privacy profile is set (custom: every rule from this file): `storelens privacy show` lists them.",
            "[store]",
            'id = "demo-store"',
            'name = "StoreLens demo"',
            "",
            "[[cameras]]",
            f"id = {json.dumps(camera['id'])}",
            f"source = {json.dumps(str(video))}  # the sample video; an rtsp:// URL for a real camera",
            f"entry_line = {{ start = {json.dumps(line['start'])}, end = {json.dumps(line['end'])}, "
            f"inside = {json.dumps(line['inside'])} }}",
            "",
            "[models]",
            f"dir = {json.dumps(str(models))}",
            "",
            "[gallery]",
            'dir = "gallery"',
            "",
            "[edge]",
            'outbox = "outbox.sqlite"',
            "metrics_port = 0",
            "",
            "[mqtt]",
            f"url = {json.dumps(mqtt_url)}  # the store's broker (the demo itself ran one of its own)",
            "# its users (`storelens deploy store-broker --config store.toml --out broker` writes their passwords)",
            f"username = {json.dumps(API_USER)}",
            f'password_file = "broker/secrets/{API_USER}.password"',
            f"edge_username = {json.dumps(EDGE_USER)}",
            f'edge_password_file = "broker/secrets/{EDGE_USER}.password"',
            "",
            "[api]",
            f"port = {port}",
            'database_url = "sqlite:///events.sqlite"',
            'photos_dir = "photos"',
            "",
        ]
    )
    path = folder / "store.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_demo(args: argparse.Namespace) -> int:
    """Run the main job; returns 0 when the outcome matches the sample's ground truth."""

    def say(msg: str) -> None:
        sys.stderr.write(f"storelens: {msg}\n")
        sys.stderr.flush()

    directory = models_dir(args.models_dir).absolute()
    folder = store_folder(Path(args.keep))
    prepare_all(directory, say)
    truth = load_truth()
    fetch_photos()
    fm = load_face_models(default_config(), directory)
    with Progress("building the sample video (once, then cached)") as progress:
        video = sample_video(fm, progress=progress)
    port = free_port()
    stored = load_config(write_store_config(folder, directory, video, truth, port, args.mqtt))
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda s, f: stop.set())
    running: list[Any] = []  # what was started, stopped in reverse order on every way out
    try:
        broker = LocalBroker(secured=True)  # the store's broker as install.sh makes it: passwords and an ACL
        conf = write_store_broker(stored.store.id, [c.id for c in stored.cameras], broker.port, folder / "broker",
                                  pwd.getpwuid(os.geteuid()).pw_name)  # fmt: skip
        broker.extra = conf.read_text(encoding="utf-8")
        broker.start()
        running.append(broker)
        say(f"MQTT broker: {broker.kind} at {broker.url}")
        data = stored.model_dump()
        data["mqtt"]["url"] = broker.url
        data["edge"]["file_realtime"] = not args.fast
        config = Config.model_validate(data)
        names, staff = enrol(config, fm, truth)
        api = ApiApp(config, f"StoreLens demo ({config.store.id})")
        feed: list[dict[str, Any]] = []
        subscriber = subscribe(broker.port, feed, names, config.mqtt)
        running.append(subscriber)
        api.start()
        running.append(api)
        shop = import_shop(api, folder, config, names, say)
        tokens = {role: new_token() for role in ("associate", "admin")}
        for role, token in tokens.items():
            api.services.books.tokens.add_token(token, f"demo-{role}", role)
        write_tokens(folder, tokens)
        url = f"http://127.0.0.1:{config.api.port}/"
        print(f"StoreLens demo: store {config.store.id}, camera {truth['camera']['id']}, video {video.name}")
        print(f"Members enrolled with consent: {', '.join(f'{n} ({m})' for m, n in names.items())}")
        print(f"Staff list (never announced or counted): {', '.join(f'{n} ({m})' for m, n in staff.items())}")
        print(f"\nThe associate's iPad page: {url}\nSign-in token: {tokens['associate']}\n", flush=True)
        code, interrupted = 1, False
        if not args.fast and stop.wait(8):  # time to open the page before people walk in
            interrupted = True
        if not interrupted:
            code, interrupted = play(config, fm, stop)
            time.sleep(1.0)
            ok = report(feed, truth, code, interrupted)
            entries = sum(e["entries"] for e in feed if e["type"] == "footfall")
            if entries:
                print(f"  {'conversion':<16} {shop} transactions / {entries} entries = {shop / entries:.2f}")
            code = 0 if ok else 1
            print(next_steps(folder, config, url), flush=True)
        if not args.fast and not interrupted:
            print(f"The page stays up at {url} (token above). Press Ctrl-C to stop.", flush=True)
            stop.wait()
        return code
    finally:
        signal.signal(signal.SIGINT, previous)
        for thing in reversed(running):
            if isinstance(thing, mqtt.Client):
                thing.disconnect()
                thing.loop_stop()
            else:
                thing.stop()
        say("stopped")


def play(config: Config, fm: FaceModels, stop: threading.Event) -> tuple[int, bool]:
    """The edge pipeline on the sample video until its end or Ctrl-C; (exit code, interrupted)."""
    runner = EdgeApp(config, fm)

    def relay() -> None:
        stop.wait()
        runner.stop()

    threading.Thread(target=relay, daemon=True).start()
    code = runner.run()
    return code, stop.is_set()


def import_shop(api: ApiApp, folder: Path, config: Config, names: dict[str, str], say: Any) -> int:
    """The synthetic CRM, catalogue and POS history, and the members' cards; returns today's transactions."""
    shop = generate_shop(
        folder / "shop", config.store.id, SHOP_MEMBERS, SHOP_TRANSACTIONS, named=names, recent=SHOP_RECENT
    )
    files: list[tuple[Kind, Path]] = [
        ("products", shop.products),
        ("members", shop.members),
        ("transactions", shop.transactions),
    ]
    for kind, path in files:
        with path.open("rb") as fh:
            say(api.services.books.commerce.import_file(kind, fh, path.name).summary())
    for member_id, card in CARDS.items():
        api.services.books.commerce.put_member(member_id, card)
    api.insights.poke()
    api.insights.rebuilt.wait(60)
    return shop.recent


def write_tokens(folder: Path, tokens: dict[str, str]) -> None:
    """The demo store's sign-in tokens, readable by their owner only (they are secrets)."""
    write_file(folder / "tokens.txt", "".join(f"{role} {token}\n" for role, token in tokens.items()), 0o600)


def command_name() -> str:
    """``storelens`` as the user can type it here.

    The bare name where the PATH finds this install's command, else its path (``.venv/bin/storelens`` after
    ``make demo``, whose venv is not on the PATH).
    """
    script = Path(sys.executable).with_name("storelens")
    found = shutil.which("storelens")
    if found is not None and Path(found).resolve() == script.resolve():
        return "storelens"
    here = Path.cwd()
    return str(script.relative_to(here)) if script.is_relative_to(here) else str(script)


def next_steps(folder: Path, config: Config, url: str) -> str:
    """What to try next on the store folder the demo leaves (every command works on it as printed)."""
    here = Path.cwd()
    rel = folder.relative_to(here) if folder.is_relative_to(here) else folder
    cfg = rel / "store.toml"
    storelens = command_name()
    today = datetime.now(ZoneInfo(config.store.timezone)).date()
    steps = [
        (f"{storelens} api serve --config {cfg}", f"the iPad page again, {url}"),
        (
            f"{storelens} report footfall --config {cfg} --from {today} --to {today + timedelta(days=1)} --format csv",
            "today's footfall",
        ),
        (f"{storelens} gallery list --gallery {rel / 'gallery'}", "the members enrolled"),
        (f"{url}docs", "the API: Authorize with the admin token"),
    ]
    width = max(len(command) for command, _ in steps)
    return "\n".join(
        [
            "",
            f"The demo store stays in {rel}/: its config, events, gallery and tokens ({rel / 'tokens.txt'}:",
            "associate for the iPad, admin for members, reports and /docs). Next:",
            *(f"  {command:<{width}}  # {what}" for command, what in steps),
            "",
        ]
    )


def enrol(config: Config, fm: FaceModels, truth: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Enrol the scenario's members and staff; returns (member id -> name, staff id -> name)."""
    gallery = open_gallery(config, fm.recogniser_spec)
    try:
        members = enrol_scenario_members(gallery, fm, config, truth, "vip-recognition")
        return members, enrol_scenario_staff(gallery, fm, config, truth)
    finally:
        gallery.close()


def subscribe(port: int, feed: list[dict[str, Any]], names: dict[str, str], login: MqttConfig) -> mqtt.Client:
    """A subscriber that prints each event once (deduplicated by event_id), logged in as the store API."""
    seen: set[str] = set()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="storelens-demo-feed")
    if login.username:
        client.username_pw_set(login.username, login.secret())

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


def _counted(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def report(feed: list[dict[str, Any]], truth: dict[str, Any], code: int, interrupted: bool) -> bool:
    """Compare the events with the ground truth and print the verdict; True when they agree."""
    exp = truth["expected_with_staff"]  # the demo enrols the scenario's staff
    arrivals = sorted(e["member_id"] for e in feed if e["type"] == "vip_arrival")
    entries = sum(e["entries"] for e in feed if e["type"] == "footfall")
    footfall = [e for e in feed if e["type"] == "footfall"]
    staff = sum(e.get("staff_excluded", 0) for e in footfall)
    counted = all(e.get("unique_visitors_available", True) for e in footfall)
    # a person is one visitor however many 15-minute intervals the run spans: distinct tokens, as the reports
    # count them, plus visitors without a token yet (a sum over intervals counted a run across :00, :15 ...
    # twice)
    tokens = {t for e in footfall for t in e.get("visitor_tokens", ())}
    untokened = sum(max(0, e["unique_visitors"] - len(e.get("visitor_tokens", ()))) for e in footfall)
    unique = len(tokens) + untokened
    rows = [
        ("entries", entries, exp["entries"]),
        ("exits", sum(e.get("exits", 0) for e in footfall), exp["exits"]),
        ("passers-by", sum(e.get("passers_by", 0) for e in footfall), exp["passers_by"]),
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
