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
from storelens.i18n import Translator
from storelens.manifest import load_manifest, models_dir
from storelens.models.verify import verify_model_file
from storelens.transport.mqtt import MqttTransport

MIN_FREE_BYTES = 1 << 30


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_models(config: Config, tr: Translator) -> Check:
    """The configured detector and recogniser are present with the right checksums."""
    manifest = load_manifest()
    pack = manifest.pack(config.models.pack)
    directory = models_dir(config.models.dir or None)
    names = [pack.detector, pack.recogniser]
    if any(c.counts for c in config.cameras):
        names.append(config.models.person)
    try:
        for name in names:
            verify_model_file(manifest.get(name), directory)
    except StoreLensError as exc:
        fix = tr.gettext("run `storelens models prepare --models-dir {directory}`", directory=directory)
        return Check("models", False, str(exc), fix)
    found = tr.gettext("{models} present in {directory}, checksums match", models=", ".join(names),
                       directory=directory)  # fmt: skip
    return Check("models", True, found)


def camera_role(config: Config, camera: CameraConfig, tr: Translator) -> str:
    """What ``camera`` does, in words: whether it counts people and whether it looks for faces, and why not."""
    counts = camera.counts
    faces = config.recognises(camera)
    if counts and faces:
        return tr.gettext("counts people through its entry line and recognises members' faces")
    if counts and camera.role == "count":
        return tr.gettext("counts people through its entry line; no face is looked for (role count)")
    if counts:
        return tr.gettext(
            "counts people through its entry line; no face is looked for (privacy profile {profile})",
            profile=config.privacy.profile,
        )
    if faces:
        return tr.gettext("recognises members' faces; counts nobody (no entry line)")
    return tr.gettext("neither counts nor recognises: give it an entry line or allow recognition")


def check_camera(camera: CameraConfig, tr: Translator, timeout: float = 10.0, role: str = "") -> Check:
    """The camera opens and gives a frame, of the configured size when one is set; ``role`` is said beside it."""
    name = f"camera {camera.id}"
    fix = tr.gettext("check the camera's address, user name and password, power and network cable")
    cap = open_capture(camera.source)
    try:
        if not cap.isOpened():
            return Check(name, False, tr.gettext("cannot open {source}", source=camera.source), fix)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok, frame = cap.read()
            if ok and frame is not None:
                h, w = frame.shape[:2]
                size = "x".join(map(str, (w, h)))
                if camera.frame_size and tuple(camera.frame_size) != (w, h):
                    wanted = "x".join(map(str, camera.frame_size))
                    return Check(
                        name,
                        False,
                        tr.gettext("gives {got} frames, the config expects {wanted}", got=size, wanted=wanted),
                        tr.gettext("set the camera's stream resolution, or correct cameras[].frame_size"),
                    )
                found = tr.gettext("{source}: {size} frames", source=camera.source, size=size)
                return Check(name, True, f"{found}; {role}" if role else found)
        silent = tr.gettext(
            "{source} opened but gave no frame in {seconds} s", source=camera.source, seconds=tr.number(timeout)
        )
        return Check(name, False, silent, fix)
    finally:
        cap.release()


def check_broker(config: Config, tr: Translator, timeout: float = 5.0) -> Check:
    """The MQTT broker accepts a connection with the configured credentials and TLS settings."""
    fix = tr.gettext("start the broker (`systemctl start mosquitto`), or correct mqtt.url and the credentials")
    try:
        transport = MqttTransport(config.mqtt, f"storelens-doctor-{time.monotonic_ns()}")  # the edge's own set-up
    except StoreLensError as exc:
        return Check("broker", False, str(exc), tr.gettext("correct the [mqtt] settings"))
    refused = transport.probe(timeout)
    if refused is None:
        return Check("broker", True, tr.gettext("{url} accepts connections", url=config.mqtt.url))
    return Check("broker", False, f"{config.mqtt.url}: {refused}", fix)


BRIDGE_STATE = "$SYS/broker/connection/+/state"  # retained by Mosquitto for each bridge ("1" up, "0" down)
HELD = "$SYS/broker/store/messages/count"  # messages the broker holds: queued for the bridge among them


def check_bridge(config: Config, tr: Translator, wait: float = 2.0) -> Check:
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
        return Check("bridge", True, tr.gettext("no bridge to head office on this broker (a box on its own)"))
    down = sorted(name for name, state in bridges.items() if state.strip() != "1")
    if down:
        return Check(
            "bridge",
            False,
            tr.gettext(
                "{bridges} down; the broker holds {held} message(s) until it is back",
                bridges=", ".join(down),
                held=held,
            ),
            tr.gettext(
                "check the head-office broker's address, the network and the bridge's password "
                "(journalctl -u mosquitto)"
            ),
        )
    up = tr.gettext("{bridges} connected; the broker holds {held} message(s)", bridges=", ".join(sorted(bridges)),
                    held=held)  # fmt: skip
    return Check("bridge", True, up)


def check_database(config: Config, tr: Translator) -> Check:
    """The event database opens."""
    from storelens.books.database import sqlite_file
    from storelens.books.event_log import EventLog

    url = config.api.database_url
    path = sqlite_file(url)
    if path is not None and not path.is_file():  # never create it here
        later = tr.gettext("{url}: not created yet (the API creates it when it first starts)", url=url)
        return Check("database", True, later)
    try:
        store = EventLog(url)
        count = store.count()
        url = store.safe_url
        store.close()
    except StoreLensError as exc:
        return Check("database", False, str(exc), tr.gettext("start PostgreSQL, or correct api.database_url"))
    return Check("database", True, tr.gettext("{url}: {count} event(s)", url=url, count=count))


def check_gallery(config: Config, tr: Translator) -> Check:
    """The gallery opens with the configured recogniser."""
    from storelens.gallery.factory import open_gallery

    manifest = load_manifest()
    if not holds_gallery(Path(config.gallery.dir)):  # a check must not create an empty gallery
        empty = tr.gettext("{dir}: no gallery yet (enrolling the first member creates it)", dir=config.gallery.dir)
        return Check("gallery", True, empty)
    try:
        gallery = open_gallery(config, manifest.recogniser_of(config.models.pack))
        members = len(gallery.members())
        gallery.close()
    except StoreLensError as exc:
        fix = tr.gettext("check gallery.dir; a gallery of another model must be re-enrolled")
        return Check("gallery", False, str(exc), fix)
    return Check("gallery", True, tr.gettext("{dir}: {members} member(s)", dir=config.gallery.dir, members=members))


def check_disk(config: Config, tr: Translator) -> Check:
    """At least 1 GiB free where the gallery, outbox and logs live."""
    places = {Path(config.gallery.dir), Path(config.edge.outbox).parent}
    if config.logging.file:
        places.add(Path(config.logging.file).parent)
    low = []
    for place in places:
        probe = place if place.exists() else next((p for p in place.parents if p.exists()), Path("/"))
        free = shutil.disk_usage(probe).free
        if free < MIN_FREE_BYTES:
            low.append(tr.gettext("{place} ({free} GiB free)", place=place, free=tr.number(free / 2**30, 1)))
    if low:
        short = tr.gettext("low space: {places}", places=", ".join(low))
        return Check("disk", False, short, tr.gettext("free up space or move the data directories"))
    return Check("disk", True, tr.gettext("at least 1 GiB free for {n} data location(s)", n=len(places)))


def check_clock(tr: Translator) -> Check:
    """The clock is plausible and, where systemd can tell, synchronised."""
    now = datetime.now(UTC)
    minute = now.strftime("%Y-%m-%d %H:%M")
    if not 2024 <= now.year <= 2100:
        wrong = tr.gettext("the clock says {now} UTC", now=minute)
        return Check("clock", False, wrong, tr.gettext("set the date and enable NTP"))
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
        adrift = tr.gettext("{now} UTC, not synchronised", now=minute)
        return Check("clock", False, adrift, tr.gettext("run `timedatectl set-ntp true`"))
    note = tr.gettext("synchronised") if synced == "yes" else tr.gettext("synchronisation status unknown")
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M:%S} UTC, {note}")


def run_checks(config: Config, tr: Translator | None = None) -> list[Check]:
    """Every check, in the order an installer would fix them; what they say in ``tr``'s language."""
    tr = tr or Translator()
    steps: list[tuple[str, Callable[[], Check]]] = [("models", lambda: check_models(config, tr))]
    steps += [
        (f"camera {cam.id}", partial(check_camera, cam, tr, role=camera_role(config, cam, tr)))
        for cam in config.cameras
    ]
    steps += [
        ("broker", lambda: check_broker(config, tr)),
        ("bridge", lambda: check_bridge(config, tr)),
        ("database", lambda: check_database(config, tr)),
        ("gallery", lambda: check_gallery(config, tr)),
        ("disk", lambda: check_disk(config, tr)),
        ("clock", lambda: check_clock(tr)),
    ]
    out: list[Check] = []
    for name, step in steps:
        if name == "bridge" and not next(c.ok for c in out if c.name == "broker"):
            out.append(Check(name, False, tr.gettext("not checked: the store broker does not answer"),
                             tr.gettext("fix the broker first")))  # fmt: skip
            continue
        try:
            out.append(step())
        except StoreLensError as exc:  # a check that breaks is a failed check, named, never a traceback
            out.append(Check(name, False, str(exc), ""))
        except Exception as exc:
            out.append(Check(name, False, f"{type(exc).__name__}: {exc}", ""))
    return out
