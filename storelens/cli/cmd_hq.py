"""``storelens deploy bridge``, ``storelens hq serve`` and ``storelens hq report``: a store joins the chain.

The bridge is Mosquitto's own (a ``connection`` in the store broker's configuration): this command only
writes it, with the ACL lines the central broker needs for this store, so that nothing is hand-typed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from storelens.atomic import write_file
from storelens.cli.args import (
    add_enrolment_arguments,
    add_hq_config,
    add_member_id,
    add_token_arguments,
    bounded,
    existing_file,
    iso_day,
    new_or_dir,
    number,
)
from storelens.cli.cmd_api import existing_database, period
from storelens.cli.cmd_gallery import add_import_arguments
from storelens.cli.progress import Progress
from storelens.errors import StoreLensError
from storelens.transport.values import broker_password, existing_config_path, mqtt_url, public_key, user_name

if TYPE_CHECKING:
    from storelens.hq.database import HqDatabase


def cmd_bridge(args: argparse.Namespace) -> int:
    """Write the store broker's bridge configuration and the central broker's ACL lines for this store.

    Also makes this box's receipt key (``chain.key_file``) when missing, writes its public half for head office
    (``box-key-STORE.pub``), and records head office's public key (``--hq-public-key``) in the box's keyring.
    Every value is checked before anything is written.
    """
    from storelens.api.box_chain_agent import chain_keyring
    from storelens.config import load_config
    from storelens.signing import SigningKey
    from storelens.transport.broker_files import bridge_files

    config = load_config(Path(args.config))
    password = broker_password(args.password_file)
    username = args.username or f"store-{config.store.id}"
    files = bridge_files(config.store.id, args.hq_url, username, password, args.ca_file, args.hq_broker)
    box_key = SigningKey.load(Path(config.chain.key_file), create=True)
    files[f"box-key-{config.store.id}.pub"] = box_key.public + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_file(args.out / name, text, 0o644 if name.endswith(".pub") else 0o600)  # the bridge holds its password
        print(args.out / name)
    if args.hq_public_key:
        Path(config.gallery.dir).mkdir(parents=True, exist_ok=True)
        kid = chain_keyring(config).add(args.hq_public_key)
        print(f"trusting head office's key {kid} ({config.chain.keyring_path(config.gallery.dir)})")
    if args.install_into:
        install_bridge(args.out / "storelens-bridge.conf", args.install_into)
    where = (
        f"run hq-rabbitmq-{config.store.id}.sh PASSWORD_FILE on the central RabbitMQ"
        if args.hq_broker == "rabbitmq"
        else f"hq-acl-{config.store.id}.conf in the central broker's acl_file"
    )
    print(
        f"store {config.store.id} -> {args.hq_url} as {username}: put storelens-bridge.conf in the store "
        f"broker's conf.d, and {where}; at head office: storelens hq box-key --config hq.toml --store "
        f"{config.store.id} --public-key {box_key.public}"
    )
    return 0


def install_bridge(bridge: Path, conf_dir: Path) -> Path:
    """Copy the bridge into a Mosquitto's drop-in folder (``include_dir``), for a broker not run by systemd.

    The file holds the bridge's password: mode 0640, owned by root and the group of the user Mosquitto drops
    root for (``mosquitto``) when this runs as root, so that the broker can read it and nobody else.
    """
    import grp

    target = conf_dir / bridge.name
    write_file(target, bridge.read_bytes(), 0o640)
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):  # no mosquitto group: a broker run by this user reads it
            os.chown(target, 0, grp.getgrnam("mosquitto").gr_gid)
    sys.stderr.write(
        f"storelens: installed {target}; the broker's configuration must name its folder (`include_dir {conf_dir}`); "
        "restart Mosquitto to connect the bridge\n"
    )
    return target


def cmd_serve(args: argparse.Namespace) -> int:
    """Run head office's ingest until stopped."""
    from storelens.extras import require_extra

    require_extra("hq", "storelens hq serve")  # before anything is opened: a box has no head-office parts
    from storelens.apps.hq import HqApp
    from storelens.cli.logs import setup_logging
    from storelens.config import load_hq_config
    from storelens.redact import redact

    config = load_hq_config(Path(args.config))
    setup_logging(config.logging, args.verbose)
    app = HqApp(config)
    sys.stderr.write(f"storelens: head office {config.id}: every store's events from {redact(config.mqtt.url)}\n")
    if config.api.enabled:
        host = "127.0.0.1" if config.api.host in ("0.0.0.0", "::", "") else config.api.host
        shown = f"[{host}]" if ":" in host else host
        sys.stderr.write(
            f"storelens: the head-office console: http://{shown}:{config.api.port}/console (a token from "
            f"`storelens hq token create --config {shlex.quote(str(args.config))} --name NAME --role analyst|admin`)\n"
        )
    app.serve()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Footfall of every store (or region, or the chain) on each store's own days: the chain API's rows."""
    from dataclasses import asdict

    from storelens.books.event_log import EventLog
    from storelens.config import load_hq_config
    from storelens.hq.chain_reports import ChainReports
    from storelens.web.reports import FORMATS

    config = load_hq_config(Path(args.config))
    period(args.start, args.end, "UTC")  # a bad period is refused before the database is opened
    existing_database(config.database_url, f"database_url in {args.config}")
    store = EventLog(config.database_url)
    try:  # no sales: transactions stay in each box's books
        reports = ChainReports(store, {s.id: s for s in config.stores}, config.currency)
        rows = reports.rows(args.start, args.end, args.interval, args.level, args.store)
    except ValueError as exc:
        raise StoreLensError(f"--from/--to: {exc}") from exc
    finally:
        store.close()
    data = (json.dumps([asdict(r) for r in rows], indent=1) + "\n").encode() if args.format == "json" else (
        FORMATS[args.format][0](rows))  # fmt: skip
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.write(data.decode())
    return 0


def _registry(config_path: str, create: bool = False) -> tuple[Any, HqDatabase]:
    from storelens.config import load_hq_config
    from storelens.hq.database import HqDatabase

    config = load_hq_config(Path(config_path))
    if not create:
        existing_database(config.database_url, f"database_url in {config_path}")
    return config, HqDatabase(config.database_url)


def _out(args: argparse.Namespace, rows: list[dict[str, Any]], text: Any) -> None:
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(row, sort_keys=True) + "\n")
    else:
        for row in rows:
            print(text(row))


def cmd_enroll(args: argparse.Namespace) -> int:
    """Enrol a member at head office; ``hq serve`` sends them to every box their consent covers."""
    import numpy as np

    from storelens.apps.faces import load_face_path
    from storelens.config import load_hq_config
    from storelens.gallery.enrol import Enroller
    from storelens.gallery.records import check_consent
    from storelens.hq.database import HqDatabase
    from storelens.hq.registry import seen_stores
    from storelens.manifest import load_manifest
    from storelens.members import Consent, MemberInfo

    config = load_hq_config(Path(args.config))
    rules = config.privacy_rules()
    member = MemberInfo(member_id=args.member_id, name=args.name or "")
    consent = Consent(
        reference=args.consent,
        notice_version=args.notice_version or config.enrolment.notice_version,
        purpose=args.purpose or config.enrolment.purpose,
        minor=args.minor,
        guardian_reference=args.guardian_consent,
        separate=args.separate_consent,
        written_release=args.written_release,
        profile=rules.profile,
        scope="chain" if args.scope == "chain" else "home",
        share_visits=args.share_visits,
    )
    check_consent(consent, rules)  # before the models load
    listed = [s for s in (args.stores or "").split(",") if s]
    if args.scope == "home" and not args.home_store:
        raise StoreLensError("--scope home needs --home-store STORE")
    if args.scope == "stores" and not listed:
        raise StoreLensError("--scope stores needs --stores A,B")
    spec = load_manifest().recogniser_of(config.models.pack)
    photos = [Path(p) for p in args.photos]
    with Progress(f"checking {len(photos)} photo(s)") as progress:
        vectors = Enroller(load_face_path(config), config.enrolment, rules).vectors(photos, progress)
    store = HqDatabase(config.database_url)
    try:
        registry = store.members
        known = sorted({s.id for s in config.stores} | set(seen_stores(store.engine)))
        version, targets = registry.enrol(
            member,
            consent,
            spec.name,
            np.stack([v.vector for v in vectors]),
            args.scope,
            args.home_store,
            listed,
            known,
        )
    finally:
        store.close()
    print(
        f"enrolled {member.member_id} at head office (version {version}, {len(vectors)} photo(s), scope {args.scope}): "
        f"queued for {', '.join(targets)}"
    )
    return 0


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON line on stdout, flushed (a verdict as it comes)."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def cmd_import(args: argparse.Namespace) -> int:
    """Enrol a manifest's members at head office; each goes to the stores their consent covers as a signed change."""
    from storelens.apps.faces import load_face_path
    from storelens.cli.cmd_gallery import report_import
    from storelens.config import load_hq_config
    from storelens.gallery.bulk import BulkImporter, read_manifest
    from storelens.gallery.enrol import Enroller
    from storelens.hq.database import HqDatabase
    from storelens.hq.member_import import HqSink
    from storelens.hq.registry import seen_stores

    config = load_hq_config(Path(args.config))
    rules = config.privacy_rules()
    members, refused = read_manifest(Path(args.manifest), rules, config.enrolment, at_head_office=True)
    if not members:
        return report_import(refused, None, members, args.json, emit_json)
    path = load_face_path(config)
    store = HqDatabase(config.database_url)
    try:
        known = sorted({s.id for s in config.stores} | set(seen_stores(store.engine)))
        sink = HqSink(store.members, path.recogniser.name, known, float(path.recogniser.lookalike_threshold or 1.0))
        lookalikes: Literal["refuse", "note"] = "note" if args.allow_lookalikes else "refuse"
        enroller = Enroller(path, config.enrolment, rules)
        importer = BulkImporter(sink, enroller, lookalikes, batch=args.batch, workers=args.workers)
        return report_import(refused, importer, members, args.json, emit_json)
    finally:
        store.close()


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase a member at head office and queue the erasure for every box that held them."""
    _, db = _registry(args.config)
    try:
        done = db.members.erase(args.member_id, args.reason)
        traces = db.events.erase_member(args.member_id)
    finally:
        db.close()
    if done is None and not any(traces.values()):
        raise StoreLensError(f"member {args.member_id}: head office holds nothing of them")
    erasure_id, boxes = done if done else ("(head office only)", [])
    removed = ", ".join(f"{k} {v}" for k, v in traces.items() if v) or "no events"
    print(
        f"{erasure_id}: {args.member_id} erased at head office ({removed}); "
        + (f"waiting for {len(boxes)} box(es) to confirm: {', '.join(boxes)}" if boxes else "no box held them")
    )
    return 0


def cmd_members(args: argparse.Namespace) -> int:
    """Members enrolled at head office, and per store what its box has confirmed."""
    _, db = _registry(args.config)
    try:
        rows = db.members.members()
    finally:
        db.close()

    def text(r: dict[str, Any]) -> str:
        states = ", ".join(f"{s}: {d['op']} {d['state']}" for s, d in r["stores"].items())
        return f"{r['member_id']} v{r['version']} scope {r['scope']}: {states}"

    _out(args, rows, text)
    return 0


def cmd_visits(args: argparse.Namespace) -> int:
    """One UTC day's member visits for the member platform, as JSON lines (the daily export's format)."""
    from storelens.hq.crm import CrmOutbox, write_export

    _, db = _registry(args.config)
    try:
        lines = CrmOutbox(db.engine).visits_of(args.day.isoformat())
    finally:
        db.close()
    if args.out is not None:
        path = write_export(args.out, args.day.isoformat(), lines)
        print(f"{len(lines)} visit(s) written to {path}")
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def cmd_erasures(args: argparse.Namespace) -> int:
    """Erasures: which boxes have confirmed (with their receipts) and which are still pending."""
    _, db = _registry(args.config)
    try:
        rows = db.members.erasures(args.member_id)
    finally:
        db.close()

    def text(r: dict[str, Any]) -> str:
        state = f"complete {r['completed_at']}" if r["completed_at"] else "pending"
        pending = ", ".join(p["store_id"] for p in r["pending"]) or "none"
        return f"{r['erasure_id']} ({state}): confirmed by {', '.join(r['confirmed']) or 'none'}; pending: {pending}"

    _out(args, rows, text)
    return 0


def cmd_boxes(args: argparse.Namespace) -> int:
    """Each store's cameras: last status, when, frame rate."""
    from storelens.hq.registry import box_status

    _, db = _registry(args.config)
    try:
        rows = box_status(db.engine)
    finally:
        db.close()
    _out(args, rows, lambda r: f"{r['store_id']}/{r['camera_id']}: {r['state']} at {r['ts']} ({r['fps']:.1f} fps)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """Head office's signing key: show the current public key (made when missing), or roll to a new one."""
    from datetime import timedelta

    from storelens.config import load_hq_config
    from storelens.hq.keys import HqKeys

    config = load_hq_config(Path(args.config))
    keys = HqKeys(Path(config.signing_keys_file))
    if args.action == "rotate":
        old = keys.current.key_id
        new, until = keys.rotate(timedelta(days=args.overlap_days))
        sys.stderr.write(
            f"storelens: new key {new.key_id}; boxes learn it from the next change they get and accept the old "
            f"key {old} until {until}; restart nothing (hq serve reads the file each round)\n"
        )
    print(keys.current.public)
    return 0


def cmd_box_key(args: argparse.Namespace) -> int:
    """Register the key a store's box signs its receipts with (what `deploy bridge` printed on the box)."""
    _, db = _registry(args.config, create=True)
    try:
        changed = db.members.register_box(args.store, args.public_key)
    finally:
        db.close()
    print(f"store {args.store}: box key {'registered' if changed else 'unchanged'}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Make a chain API token (shown once, stored hashed)."""
    _, db = _registry(args.config, create=True)
    try:
        token = db.tokens.create(args.name, args.role)
    finally:
        db.close()
    print(token)
    sys.stderr.write(f"storelens: token for {args.name} ({args.role}); shown once, kept only as a hash\n")
    return 0


def add_hq_commands(sub: Any, add: Any) -> None:
    """Register ``deploy bridge`` and ``hq serve | report``."""
    deploy = sub.add_parser("deploy", help="join a store to the chain").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    sp = add(deploy, "bridge", cmd_bridge, "write the Mosquitto bridge to head office and its ACL lines")
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration")
    sp.add_argument("--hq-url", required=True, type=mqtt_url, help="the central broker, mqtts://HOST:8883")
    sp.add_argument(
        "--username", type=user_name, help="the bridge's user on the central broker (default: store-STORE_ID)"
    )
    sp.add_argument("--password-file", required=True, type=existing_file, help="a file holding its password")
    sp.add_argument("--ca-file", type=existing_config_path, help="CA of the central broker's certificate (mqtts)")
    sp.add_argument(
        "--hq-public-key",
        type=public_key,
        help="head office's public key (`storelens hq keys show`): the box acts only on changes it signed",
    )
    sp.add_argument("--out", required=True, type=new_or_dir, help="folder to write the two files into")
    sp.add_argument(
        "--install-into",
        metavar="CONF_DIR",
        type=new_or_dir,
        help="also copy the bridge into this Mosquitto drop-in folder (a broker without systemd; "
        "install.sh's BRIDGE=FILE does it under systemd)",
    )
    sp.add_argument(
        "--hq-broker",
        choices=["mosquitto", "rabbitmq"],
        default="mosquitto",
        help="the central broker: Mosquitto (ACL lines) or RabbitMQ's MQTT plugin (rabbitmqctl permissions)",
    )
    from storelens.cli.cmd_deploy import add_deploy_commands

    add_deploy_commands(deploy, add)
    hq = sub.add_parser("hq", help="head office").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    sp = add(hq, "serve", cmd_serve, "every store's events into the chain's database")
    add_hq_config(sp)
    sp = add(hq, "enroll", cmd_enroll, "enrol a member chain-wide, in listed stores or at home (with consent)")
    add_hq_config(sp)
    add_enrolment_arguments(sp)
    sp.add_argument(
        "--scope",
        choices=["home", "stores", "chain"],
        default="home",
        help="where the consent lets the member be recognised (default: home store only)",
    )
    sp.add_argument(
        "--home-store",
        type=bounded("storelens.config:ChainStore", "id"),
        metavar="STORE",
        help="the member's home store (with --scope home)",
    )
    sp.add_argument("--stores", metavar="A,B", help="the stores of --scope stores, comma-separated")
    sp = add(
        hq,
        "import",
        cmd_import,
        "enrol a manifest's members (CSV or JSON Lines) and send each to their stores; one verdict per row",
        True,
    )
    add_hq_config(sp)
    add_import_arguments(sp)
    sp = add(hq, "erase", cmd_erase, "erase a member at head office and on every box that held them")
    add_hq_config(sp)
    add_member_id(sp)
    sp.add_argument(
        "--reason",
        default="erasure request",
        type=bounded("storelens.chain_messages:MemberChange", "reason"),
        help="why the member is erased (kept with the receipt)",
    )
    sp = add(hq, "members", cmd_members, "members enrolled at head office and what each box confirmed", True)
    add_hq_config(sp)
    sp = add(hq, "erasures", cmd_erasures, "erasures: boxes confirmed and pending", True)
    add_hq_config(sp)
    add_member_id(sp, required=False, help_="only this member's")
    sp = add(hq, "visits", cmd_visits, "one UTC day's member visits for the member platform (JSON lines)")
    add_hq_config(sp)
    sp.add_argument("--day", required=True, type=iso_day, help="the UTC day, YYYY-MM-DD")
    sp.add_argument("--out", type=Path, metavar="DIR", help="write DIR/visits-DAY.jsonl instead of printing")
    sp = add(hq, "boxes", cmd_boxes, "each store camera's last status", True)
    add_hq_config(sp)
    sp = add(hq, "keys", cmd_keys, "head office's signing key: show its public half, or rotate it")
    sp.add_argument("action", choices=["show", "rotate"], help="show the current public key, or make a new one")
    add_hq_config(sp)
    sp.add_argument(
        "--overlap-days",
        type=number(float, "--overlap-days", ge=0, le=365),
        default=7.0,
        help="rotate: how long boxes still accept the old key (default 7 days)",
    )
    sp = add(hq, "box-key", cmd_box_key, "register the key a store's box signs its receipts with")
    add_hq_config(sp)
    sp.add_argument("--store", required=True, type=bounded("storelens.config:ChainStore", "id"), help="the store's id")
    sp.add_argument("--public-key", required=True, type=public_key, help="what `deploy bridge` printed on the box")
    sp = add(hq, "token", cmd_token, "make a chain API token: analyst (reports, boxes) or admin (also members)")
    add_hq_config(sp)
    add_token_arguments(
        sp,
        ("analyst", "admin"),
        "who or what holds it",
        "what the token may do: analyst (reports) or admin (members, erasures)",
    )
    sp = add(hq, "report", cmd_report, "footfall of every store, region or the chain, on each store's own days")
    add_hq_config(sp)
    sp.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="ISO",
        help="start, inclusive: ISO date or date and time (store time)",
    )
    sp.add_argument(
        "--to", dest="end", required=True, metavar="ISO", help="end, exclusive: ISO date or date and time (store time)"
    )
    sp.add_argument(
        "--interval", choices=["15m", "1h", "1d"], default="1d", help="length of each row: 15 minutes, 1 hour or 1 day"
    )
    sp.add_argument(
        "--level",
        choices=["store", "region", "chain"],
        default="store",
        help="rows per store, per region or for the whole chain (the chain API's level)",
    )
    sp.add_argument(
        "--store", type=bounded("storelens.config:ChainStore", "id"), help="this store's rows only (the API's store)"
    )
    sp.add_argument("--format", choices=["csv", "json"], default="csv", help="output format")
    sp.add_argument("--out", type=Path, metavar="FILE", help="write the rows here (default: stdout)")
