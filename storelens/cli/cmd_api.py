"""``storelens api serve | token create`` and ``storelens report footfall``."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from storelens.cli.args import add_token_arguments, bounded, timezone_name, writable_file
from storelens.errors import ConfigError

log = logging.getLogger(__name__)


def cmd_serve(args: argparse.Namespace, emit: Any) -> int:
    """Run the API and the MQTT ingest until stopped."""
    from storelens.apps.api import ApiApp
    from storelens.cli.logs import setup_logging
    from storelens.config import load_config

    config = load_config(Path(args.config))
    setup_logging(config.logging, args.verbose)
    app = ApiApp(config, port=args.port)
    host, port = config.api.host, app.port
    sys.stderr.write(
        f"storelens: store API for {config.store.id}: page http://{host}:{port}/ , OpenAPI http://{host}:{port}/docs\n"
    )
    app.serve()
    return 0


def cmd_token(args: argparse.Namespace, emit: Any) -> int:
    """Make a device token; it is printed once and stored only as a hash."""
    from storelens.books.token_book import TokenBook
    from storelens.config import load_config

    config = load_config(Path(args.config))
    book = TokenBook(config.api.database_url)
    token = book.create(args.name, args.role)
    book.engine.dispose()
    if args.json:
        emit({"name": args.name, "role": args.role, "token": token})
    else:
        print(token)
        sys.stderr.write(f"storelens: {args.role} token for {args.name!r}; it is shown only now\n")
    return 0


def existing_database(url: str, where: str) -> None:
    """A report reads an event database: a SQLite file that is not there is a wrong folder, not an empty report.

    Raises:
        ConfigError: naming the file and where its name came from.
    """
    from storelens.books.database import sqlite_file

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise ConfigError(f"no event database at {path} (from {where}); pass the API's --config")


def period(start: str, end: str, zone: str) -> tuple[datetime, datetime]:
    """``--from``/``--to`` as UTC instants (a time without an offset is ``zone``'s local time).

    Raises:
        ConfigError: not ISO 8601 times between 2000 and 2100, or ``--to`` not after ``--from``.
    """
    from storelens.web.reports import parse_ts

    try:
        a, b = parse_ts(start, zone), parse_ts(end, zone)
    except ValueError as exc:
        raise ConfigError(
            f"--from/--to: expected ISO 8601 times such as 2026-11-21 or 2026-11-21T09:00Z ({exc})"
        ) from exc
    if b <= a:
        raise ConfigError("--to must be after --from")
    return a, b


def cmd_report(args: argparse.Namespace, emit: Any) -> int:
    """Footfall export per store and camera (without --config: the default database, every store in it)."""
    from zoneinfo import ZoneInfo

    from storelens.api.books import StoreBooks
    from storelens.clock import iso
    from storelens.config import CONFIG_DIR, ApiConfig, load_config
    from storelens.i18n import Translator
    from storelens.manifest import storelens_home
    from storelens.web.reports import FORMATS, chart_png, footfall_rows, footfall_title, local_span

    config = load_config(Path(args.config)) if args.config else None
    zone = args.timezone or (config.store.timezone if config else "UTC")
    start, end = period(args.start, args.end, zone)
    # without a config, the default database in $STORELENS_HOME (never the current directory)
    url = (
        config.api.database_url
        if config
        else ApiConfig.model_validate({}, context={CONFIG_DIR: storelens_home()}).database_url
    )
    existing_database(url, "the default in $STORELENS_HOME" if config is None else f"api.database_url in {args.config}")
    books = StoreBooks(url)
    only = config.store.id if config else None
    sales = books.commerce.sales(iso(start), iso(end), only)
    currency = config.store.currency if config else "EUR"
    rows = footfall_rows(books.events.footfall(iso(start), iso(end), only), args.interval, zone, sales, currency)
    books.close()
    data = FORMATS[args.format][0](rows)
    if args.out:
        Path(args.out).write_bytes(data)
    elif args.format == "xlsx":
        raise ConfigError("--format xlsx needs --out FILE")
    else:
        sys.stdout.write(data.decode())
    if args.chart:
        tr = Translator(config.store.locale if config else "en", ZoneInfo(zone))
        where = (config.store.name or config.store.id) if config else tr.gettext("all stores")
        title = footfall_title(tr, args.interval, start, end, where)
        Path(args.chart).write_bytes(chart_png(rows, title, tr, local_span(start, end, zone), args.interval))
    return 0


def add_api_commands(api_sub: Any, report_sub: Any, add: Any, emit: Any) -> None:
    """Register the API and report subcommands."""

    def bind(fn: Any) -> Any:
        return lambda args: fn(args, emit)

    sp = add(api_sub, "serve", bind(cmd_serve), "run the store API and its MQTT ingest")
    sp.add_argument("--config", required=True, help="the store's configuration file (TOML)")
    sp.add_argument("--port", type=bounded("storelens.config:ApiConfig", "port"), help="override api.port (1 to 65535)")
    sp = add(api_sub, "token", bind(cmd_token), "make a device token (admin or associate)", True)
    sp.add_argument("--config", required=True, help="the store's configuration file (TOML)")
    add_token_arguments(
        sp,
        ("associate", "admin"),
        "device or person, e.g. ipad-counter-1 (1 to 128 characters)",
        "what the token may do: associate (an iPad) or admin",
    )
    sp = add(report_sub, "footfall", bind(cmd_report), "footfall export per store and camera")
    sp.add_argument("--config", help="configuration (database, store); default: the default database, all stores")
    sp.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="ISO",
        help="start, inclusive; without an offset, the store's local time",
    )
    sp.add_argument("--to", dest="end", required=True, metavar="ISO", help="end, exclusive")
    sp.add_argument(
        "--timezone",
        type=timezone_name,
        metavar="IANA",
        help="whose days and hours (default: store.timezone of --config, else UTC)",
    )
    sp.add_argument(
        "--interval", choices=["15m", "1h", "1d"], default="1h", help="length of each row: 15 minutes, 1 hour or 1 day"
    )
    sp.add_argument("--format", choices=["csv", "xlsx", "json"], default="csv", help="output format")
    sp.add_argument("--out", metavar="FILE", type=writable_file, help="write here (required for xlsx); default: stdout")
    sp.add_argument("--chart", metavar="PNG", type=writable_file, help="also write a chart of entries per interval")
