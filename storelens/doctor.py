"""``storelens doctor --config FILE``: is this box ready? One line per check, and what to do if not."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.capture import open_capture
from edge.mqtt import parse_url
from models.manifest import load_manifest, models_dir, verify_model_file
from storelens.config import CameraConfig, Config
from storelens.errors import StoreLensError

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
                    return Check(name, False, f"gives {w}x{h} frames, the config expects "
                                 f"{camera.frame_size[0]}x{camera.frame_size[1]}",
                                 "set the camera's stream resolution, or correct cameras[].frame_size")  # fmt: skip
                return Check(name, True, f"{camera.source}: {w}x{h} frames")
        return Check(name, False, f"{camera.source} opened but gave no frame in {timeout:.0f} s", fix)
    finally:
        cap.release()


def check_broker(config: Config, timeout: float = 5.0) -> Check:
    """The MQTT broker accepts a connection with the configured credentials."""
    broker = parse_url(config.mqtt.url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"storelens-doctor-{time.monotonic_ns()}")
    if config.mqtt.username:
        client.username_pw_set(config.mqtt.username, config.mqtt.password)
    if broker.tls:
        client.tls_set(ca_certs=config.mqtt.ca_file, certfile=config.mqtt.cert_file, keyfile=config.mqtt.key_file)
    result: list[str] = []
    client.on_connect = lambda c, u, f, reason, p: result.append(str(reason))
    fix = "start the broker (`systemctl start mosquitto`), or correct mqtt.url and the credentials"
    try:
        client.connect(broker.host, broker.port, keepalive=10)
        client.loop_start()
        deadline = time.monotonic() + timeout
        while not result and time.monotonic() < deadline:
            time.sleep(0.05)
    except OSError as exc:
        return Check("broker", False, f"{config.mqtt.url}: {exc.strerror or exc}", fix)
    finally:
        client.loop_stop()
        client.disconnect()
    if result and result[0] == "Success":
        return Check("broker", True, f"{config.mqtt.url} accepts connections")
    return Check("broker", False, f"{config.mqtt.url}: {result[0] if result else 'no answer'}", fix)


def check_database(config: Config) -> Check:
    """The event database opens."""
    from api.store import EventStore

    try:
        store = EventStore(config.api.database_url)
        count = store.count()
        url = store.safe_url
        store.close()
    except StoreLensError as exc:
        return Check("database", False, str(exc), "start PostgreSQL, or correct api.database_url")
    return Check("database", True, f"{url}: {count} event(s)")


def check_gallery(config: Config) -> Check:
    """The gallery opens with the configured recogniser."""
    from gallery.factory import open_gallery

    manifest = load_manifest()
    try:
        gallery = open_gallery(config, manifest.get(manifest.pack(config.models.pack).recogniser))
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
        synced = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                                text=True, timeout=5, check=False).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        synced = ""
    if synced == "no":
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC, not synchronised", "run `timedatectl set-ntp true`")
    note = "synchronised" if synced == "yes" else "synchronisation status unknown"
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M:%S} UTC, {note}")


def run_checks(config: Config) -> list[Check]:
    """Every check, in the order an installer would fix them."""
    steps: list[Callable[[], Check]] = [lambda: check_models(config)]
    steps += [lambda c=cam: check_camera(c) for cam in config.cameras]  # type: ignore[misc]
    steps += [lambda: check_broker(config), lambda: check_database(config), lambda: check_gallery(config),
              lambda: check_disk(config), check_clock]  # fmt: skip
    out = []
    for step in steps:
        try:
            out.append(step())
        except Exception as exc:  # a check that breaks is a failed check, never a traceback
            out.append(Check(getattr(step, "__name__", "check"), False, f"{type(exc).__name__}: {exc}", ""))
    return out
