"""``storelens doctor --config FILE``: is this box ready? One line per check, and what to do if not."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from storelens.config import CameraConfig, Config
from storelens.edge.capture import open_capture
from storelens.errors import StoreLensError
from storelens.gallery.gallery import holds_gallery
from storelens.manifest import load_manifest, models_dir
from storelens.models.verify import verify_model_file
from storelens.transport import MqttTransport

MIN_FREE_BYTES = 1 << 30


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_models(config: Config) -> Check:
    """The configured detector and recogniser are present with the right checksums."""
    manifest = load_manifest()
    pack = manifest.pack(config.models.pack)
    directory = models_dir(config.models.dir or None)
    try:
        for name in (pack.detector, pack.recogniser):
            verify_model_file(manifest.get(name), directory)
    except StoreLensError as exc:
        return Check("models", False, str(exc), f"run `storelens models prepare --models-dir {directory}`")
    return Check("models", True, f"{pack.detector} and {pack.recogniser} present in {directory}, checksums match")


def check_camera(camera: CameraConfig, timeout: float = 10.0) -> Check:
    """The camera opens and gives a frame, of the configured size when one is set."""
    name = f"camera {camera.id}"
    fix = "check the camera's address, user name and password, power and network cable"
    cap = open_capture(camera.source)
    try:
        if not cap.isOpened():
            return Check(name, False, f"cannot open {camera.source}", fix)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok, frame = cap.read()
            if ok and frame is not None:
                h, w = frame.shape[:2]
                if camera.frame_size and tuple(camera.frame_size) != (w, h):
                    return Check(
                        name,
                        False,
                        f"gives {w}x{h} frames, the config expects {camera.frame_size[0]}x{camera.frame_size[1]}",
                        "set the camera's stream resolution, or correct cameras[].frame_size",
                    )
                return Check(name, True, f"{camera.source}: {w}x{h} frames")
        return Check(name, False, f"{camera.source} opened but gave no frame in {timeout:.0f} s", fix)
    finally:
        cap.release()


def check_broker(config: Config, timeout: float = 5.0) -> Check:
    """The MQTT broker accepts a connection with the configured credentials and TLS settings."""
    fix = "start the broker (`systemctl start mosquitto`), or correct mqtt.url and the credentials"
    try:
        transport = MqttTransport(config.mqtt, f"storelens-doctor-{time.monotonic_ns()}")  # the edge's own set-up
    except StoreLensError as exc:
        return Check("broker", False, str(exc), "correct the [mqtt] settings")
    refused = transport.probe(timeout)
    if refused is None:
        return Check("broker", True, f"{config.mqtt.url} accepts connections")
    return Check("broker", False, f"{config.mqtt.url}: {refused}", fix)


BRIDGE_STATE = "$SYS/broker/connection/+/state"  # retained by Mosquitto for each bridge ("1" up, "0" down)
HELD = "$SYS/broker/store/messages/count"  # messages the broker holds: queued for the bridge among them


def check_bridge(config: Config, wait: float = 2.0) -> Check:
    """The store broker's bridge to head office (``storelens deploy bridge``): connected, and messages held.

    The bridge announces its state on the store broker itself (``notifications_local_only``), retained; a box
    that is not part of a chain has no such topic and passes.
    """
    seen: dict[str, str] = {}

    def remember(topic: str, payload: bytes) -> None:
        seen[topic] = payload.decode(errors="replace")

    transport = MqttTransport(config.mqtt, f"storelens-doctor-{time.monotonic_ns()}")
    for pattern in (BRIDGE_STATE, HELD):
        transport.subscribe(pattern, remember)
    transport.start()
    try:
        time.sleep(wait)  # retained messages arrive at once after the subscription
    finally:
        transport.stop()
    bridges = {t.split("/")[3]: state for t, state in seen.items() if t.endswith("/state")}
    held = seen.get(HELD, "?")
    if not bridges:
        return Check("bridge", True, "no bridge to head office on this broker (a box on its own)")
    down = sorted(name for name, state in bridges.items() if state.strip() != "1")
    if down:
        return Check(
            "bridge",
            False,
            f"{', '.join(down)} down; the broker holds {held} message(s) until it is back",
            "check the head-office broker's address, the network and the bridge's password (journalctl -u mosquitto)",
        )
    return Check("bridge", True, f"{', '.join(sorted(bridges))} connected; the broker holds {held} message(s)")


def check_database(config: Config) -> Check:
    """The event database opens."""
    from storelens.api.event_store import EventStore
    from storelens.api.stores import sqlite_file

    url = config.api.database_url
    path = sqlite_file(url)
    if path is not None and not path.is_file():  # never create it here
        return Check("database", True, f"{url}: not created yet (the API creates it when it first starts)")
    try:
        store = EventStore(url)
        count = store.count()
        url = store.safe_url
        store.close()
    except StoreLensError as exc:
        return Check("database", False, str(exc), "start PostgreSQL, or correct api.database_url")
    return Check("database", True, f"{url}: {count} event(s)")


def check_gallery(config: Config) -> Check:
    """The gallery opens with the configured recogniser."""
    from storelens.gallery.factory import open_gallery

    manifest = load_manifest()
    if not holds_gallery(Path(config.gallery.dir)):  # a check must not create an empty gallery
        return Check("gallery", True, f"{config.gallery.dir}: no gallery yet (enrolling the first member creates it)")
    try:
        gallery = open_gallery(config, manifest.recogniser_of(config.models.pack))
        members = len(gallery.members())
        gallery.close()
    except StoreLensError as exc:
        return Check("gallery", False, str(exc), "check gallery.dir; a gallery of another model must be re-enrolled")
    return Check("gallery", True, f"{config.gallery.dir}: {members} member(s)")


def check_disk(config: Config) -> Check:
    """At least 1 GiB free where the gallery, outbox and logs live."""
    places = {Path(config.gallery.dir), Path(config.edge.outbox).parent}
    if config.logging.file:
        places.add(Path(config.logging.file).parent)
    low = []
    for place in places:
        probe = place if place.exists() else next((p for p in place.parents if p.exists()), Path("/"))
        free = shutil.disk_usage(probe).free
        if free < MIN_FREE_BYTES:
            low.append(f"{place} ({free / 2**30:.1f} GiB free)")
    if low:
        return Check("disk", False, "low space: " + ", ".join(low), "free up space or move the data directories")
    return Check("disk", True, f"at least 1 GiB free for {len(places)} data location(s)")


def check_clock() -> Check:
    """The clock is plausible and, where systemd can tell, synchronised."""
    now = datetime.now(UTC)
    if not 2024 <= now.year <= 2100:
        return Check("clock", False, f"the clock says {now:%Y-%m-%d %H:%M} UTC", "set the date and enable NTP")
    try:
        synced = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        synced = ""
    if synced == "no":
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC, not synchronised", "run `timedatectl set-ntp true`")
    note = "synchronised" if synced == "yes" else "synchronisation status unknown"
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M:%S} UTC, {note}")


def run_checks(config: Config) -> list[Check]:
    """Every check, in the order an installer would fix them."""
    steps: list[tuple[str, Callable[[], Check]]] = [("models", lambda: check_models(config))]
    steps += [(f"camera {cam.id}", partial(check_camera, cam)) for cam in config.cameras]
    steps += [
        ("broker", lambda: check_broker(config)),
        ("bridge", lambda: check_bridge(config)),
        ("database", lambda: check_database(config)),
        ("gallery", lambda: check_gallery(config)),
        ("disk", lambda: check_disk(config)),
        ("clock", check_clock),
    ]
    out: list[Check] = []
    for name, step in steps:
        if name == "bridge" and not next(c.ok for c in out if c.name == "broker"):
            out.append(Check(name, False, "not checked: the store broker does not answer", "fix the broker first"))
            continue
        try:
            out.append(step())
        except StoreLensError as exc:  # a check that breaks is a failed check, named, never a traceback
            out.append(Check(name, False, str(exc), ""))
        except Exception as exc:
            out.append(Check(name, False, f"{type(exc).__name__}: {exc}", ""))
    return out
