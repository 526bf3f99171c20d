"""``storelens deploy bridge``, ``storelens hq serve`` and ``storelens hq report``: a store joins the chain.

The bridge is Mosquitto's own (a ``connection`` in the store broker's configuration): this command only
writes it, with the ACL lines the central broker needs for this store, so that nothing is hand-typed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from storelens.api.reports import FORMATS, footfall_rows
from storelens.api.store import EventStore
from storelens.apps.hq import HqApp
from storelens.cli_api import existing_database, period
from storelens.cli_args import existing_file, new_or_dir, timezone_name
from storelens.clock import iso
from storelens.config import MqttConfig, load_config, load_hq_config
from storelens.errors import ConfigError
from storelens.events import TOPIC_ROOT
from storelens.logs import setup_logging

QUEUE_MESSAGES = 200_000  # a day offline for a busy store: footfall, visitors and arrivals of 4 cameras


def _url(text: str) -> str:
    try:
        return MqttConfig(url=text).url
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected mqtt://HOST:PORT or mqtts://HOST:PORT") from exc


def bridge_files(store_id: str, hq_url: str, username: str, password: str, ca_file: str | None) -> dict[str, str]:
    """The store broker's bridge configuration, and the central broker's ACL lines for this store."""
    tls = hq_url.startswith("mqtts://")
    host, _, port = hq_url.split("://", 1)[1].rstrip("/").partition(":")
    lines = [
        f"# StoreLens: store {store_id} -> head office ({hq_url}). Written by `storelens deploy bridge`.",
        "# Goes in the store broker's configuration (e.g. /etc/mosquitto/conf.d/storelens-bridge.conf).",
        "# The edge's on-disk outbox and event ids stay the guarantee: head office removes duplicates.",
        "persistence true",
        f"max_queued_messages {QUEUE_MESSAGES}",
        "",
        f"connection storelens-hq-{store_id}",
        f"address {host}:{port or ('8883' if tls else '1883')}",
        f"remote_clientid storelens-bridge-{store_id}",
        f"remote_username {username}",
        f"remote_password {password}",
        "cleansession false",
        "restart_timeout 2 30",
        "notifications false",
        "try_private true",
        f"topic {TOPIC_ROOT}/{store_id}/# out 1",
    ]
    if tls:
        lines.append(f"bridge_cafile {ca_file or '/etc/ssl/certs/ca-certificates.crt'}")
    acl = [
        f"# The central broker's ACL for store {store_id} (its bridge logs in as {username}): it may publish",
        "# under its own topic only.",
        f"user {username}",
        f"topic write {TOPIC_ROOT}/{store_id}/#",
        "",
    ]
    return {"storelens-bridge.conf": "\n".join(lines) + "\n", f"hq-acl-{store_id}.conf": "\n".join(acl)}


def cmd_bridge(args: argparse.Namespace) -> int:
    """Write the store broker's bridge configuration and the central broker's ACL lines for this store."""
    config = load_config(Path(args.config))
    password = args.password_file.read_text(encoding="utf-8").strip() if args.password_file else ""
    if not password:
        raise ConfigError(f"--password-file {args.password_file}: empty (the bridge logs in with it)")
    username = args.username or f"store-{config.store.id}"
    files = bridge_files(config.store.id, args.hq_url, username, password, args.ca_file)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = args.out / name
        tmp = path.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the bridge's password
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        tmp.replace(path)
        print(f"{path}")
    print(
        f"store {config.store.id} -> {args.hq_url} as {username}: put storelens-bridge.conf in the store "
        f"broker's conf.d, and hq-acl-{config.store.id}.conf in the central broker's acl_file"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run head office's ingest until stopped."""
    config = load_hq_config(Path(args.config))
    setup_logging(config.logging, args.verbose)
    app = HqApp(config)
    sys.stderr.write(f"storelens: head office {config.id}: every store's events from {config.mqtt.url}\n")
    app.serve()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Footfall (and conversion) of every store, and the chain's total per interval."""
    config = load_hq_config(Path(args.config))
    start, end = period(args.start, args.end, args.timezone)
    existing_database(config.database_url, f"database_url in {args.config}")
    store = EventStore(config.database_url)
    try:
        sales = store.sales(iso(start), iso(end))
        rows = footfall_rows(store.footfall(iso(start), iso(end)), args.interval, args.timezone, sales, config.currency)
    finally:
        store.close()
    rows = [
        r
        for r in rows
        if r.camera_id == "all" or not any(o.camera_id == "all" and o.store_id == r.store_id for o in rows)
    ]
    data = FORMATS[args.format][0](rows)
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.write(data.decode())
    return 0


def add_hq_commands(sub: Any, add: Any) -> None:
    """Register ``deploy bridge`` and ``hq serve | report``."""
    deploy = sub.add_parser("deploy", help="join a store to the chain").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    sp = add(deploy, "bridge", cmd_bridge, "write the Mosquitto bridge to head office and its ACL lines")
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration")
    sp.add_argument("--hq-url", required=True, type=_url, help="the central broker, mqtts://HOST:8883")
    sp.add_argument("--username", help="the bridge's user on the central broker (default: store-STORE_ID)")
    sp.add_argument("--password-file", required=True, type=existing_file, help="a file holding its password")
    sp.add_argument("--ca-file", type=existing_file, help="CA of the central broker's certificate (mqtts)")
    sp.add_argument("--out", required=True, type=new_or_dir, help="folder to write the two files into")
    hq = sub.add_parser("hq", help="head office").add_subparsers(dest="sub", metavar="SUBCOMMAND")
    sp = add(hq, "serve", cmd_serve, "every store's events into the chain's database")
    sp.add_argument("--config", required=True, type=existing_file)
    sp = add(hq, "report", cmd_report, "footfall and conversion of every store")
    sp.add_argument("--config", required=True, type=existing_file)
    sp.add_argument("--from", dest="start", required=True, metavar="ISO")
    sp.add_argument("--to", dest="end", required=True, metavar="ISO")
    sp.add_argument("--timezone", default="UTC", type=timezone_name, metavar="IANA", help="days and hours of (UTC)")
    sp.add_argument("--interval", choices=["15m", "1h", "1d"], default="1d")
    sp.add_argument("--format", choices=["csv", "json"], default="csv")
    sp.add_argument("--out", type=Path, metavar="FILE")
