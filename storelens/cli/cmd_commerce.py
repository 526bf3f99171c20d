"""``storelens crm import``, ``storelens catalogue import``, ``storelens pos import`` and ``report health``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storelens.atomic import write_file
from storelens.cli.args import bounded, existing_file, writable_file
from storelens.cli.cmd_api import existing_database, period
from storelens.cli.progress import Progress, counted
from storelens.errors import ImportRefused

if TYPE_CHECKING:
    from storelens.api.imports import Kind


def cmd_import(args: argparse.Namespace, kind: Kind, emit: Any) -> int:
    """Import one file, all or nothing; then recompute value segments and recommendations."""
    from storelens.api.commerce_book import CommerceBook
    from storelens.api.imports import file_format
    from storelens.api.insights import InsightsBuilder
    from storelens.config import load_config

    config = load_config(Path(args.config))
    file_format(args.file.name)  # a file of the wrong kind is refused before any database is opened
    store = CommerceBook(config.api.database_url)
    try:
        with args.file.open("rb") as fh, Progress(f"importing {args.file.name}") as progress:
            report = store.import_file(kind, counted(fh, progress), args.file.name)
        if args.json:
            emit(asdict(report))
        elif not report.imported:
            for line in report.rejects:
                print(f"{args.file.name}: rejected: {line}")
            if report.rejected > len(report.rejects):
                print(f"{args.file.name}: ... and {report.rejected - len(report.rejects)} more")
        if not report.imported:
            raise ImportRefused(report.summary())
        if not args.json:
            print(report.summary())
        if not args.no_rebuild:
            members = InsightsBuilder(store.engine, config.store.currency).rebuild()
            if not args.json:
                print(f"value segments and recommendations recomputed for {members} member(s)")
    finally:
        store.engine.dispose()
    return 0


def cmd_health(args: argparse.Namespace, emit: Any) -> int:
    """The store health radar for a period: JSON on stdout, and a PNG with --chart."""
    from zoneinfo import ZoneInfo

    from storelens.api.books import StoreBooks
    from storelens.api.radar import radar_png, radar_title, store_health
    from storelens.config import load_config
    from storelens.i18n import Translator

    config = load_config(Path(args.config))
    start, end = period(args.start, args.end, config.store.timezone)
    store_id = args.store or config.store.id
    existing_database(config.api.database_url, f"api.database_url in {args.config}")
    store = StoreBooks(config.api.database_url)
    try:
        with store.engine.connect() as conn:
            result = store_health(conn, store_id, start, end, config.store.currency)
    finally:
        store.close()
    result = {"store_id": store_id, "from": args.start, "to": args.end} | result
    text = json.dumps(result, indent=1) + "\n"
    if args.out:
        write_file(args.out, text)
    else:
        sys.stdout.write(text)
    if args.chart:
        tr = Translator(config.store.locale, ZoneInfo(config.store.timezone))
        name = config.store.name if store_id == config.store.id and config.store.name else store_id
        write_file(args.chart, radar_png(result, radar_title(tr, name, start, end), tr))
    return 0


def add_commerce_commands(sub: Any, report_sub: Any, add: Any, emit: Any) -> None:
    """Register ``crm import``, ``catalogue import``, ``pos import`` and ``report health``."""
    for group, kind, what in (
        ("crm", "members", "CRM members"),
        ("catalogue", "products", "the product catalogue"),
        ("pos", "transactions", "POS transactions"),
    ):
        parent = sub.add_parser(group, help=f"{what}").add_subparsers(dest="sub", metavar="SUBCOMMAND")
        sp = add(
            parent,
            "import",
            lambda args, k=kind: cmd_import(args, k, emit),
            f"import {what} from CSV or JSON lines, all or nothing",
            True,
        )
        sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration file (TOML)")
        sp.add_argument("--no-rebuild", action="store_true", help="do not recompute value and recommendations now")
        sp.add_argument(
            "file",
            type=existing_file,
            metavar="FILE.csv|FILE.jsonl",
            help="the file to import: CSV (.csv) or JSON lines (.jsonl)",
        )
    sp = add(report_sub, "health", lambda args: cmd_health(args, emit), "the store health radar (JSON, PNG)")
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration file (TOML)")
    sp.add_argument("--from", dest="start", required=True, metavar="ISO", help="start, inclusive (store time)")
    sp.add_argument("--to", dest="end", required=True, metavar="ISO", help="end, exclusive")
    sp.add_argument(
        "--store", type=bounded("storelens.config:StoreConfig", "id"), help="another store's id; default: store.id"
    )
    sp.add_argument("--out", type=writable_file, metavar="FILE", help="write the JSON here (default: stdout)")
    sp.add_argument("--chart", type=writable_file, metavar="PNG", help="also draw the radar")
