"""``storelens privacy show | notice | record | access-log | export``.

The rules in force, the documents they make, who read a member's data, and everything held on a member.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from storelens.atomic import write_file
from storelens.cli.args import add_member_id, existing_file, writable_file
from storelens.cli.cmd_api import existing_database
from storelens.errors import ConfigError, GalleryError


def cmd_access_log(args: argparse.Namespace, emit: Any) -> int:
    """Every recorded read of a member (or, after erasure, of the erasure receipt id given as --member-id)."""
    from storelens.books.access_log import AccessLog
    from storelens.config import load_config

    config = load_config(Path(args.config))
    existing_database(config.api.database_url, f"api.database_url in {args.config}")
    store = AccessLog(config.api.database_url)
    try:
        rows = store.access_log(args.member_id)
        store.log_access(args.member_id, f"cli:{getpass.getuser()}", "admin", "access-log", "admin")
    finally:
        store.engine.dispose()
    for row in rows:
        if args.json:
            emit({"member": args.member_id} | row)
        else:
            print(f"{row['at']}  {row['who']:<24} {row['role']:<9} read {row['what']:<8} ({row['why']})")
    if not args.json:
        print(f"{len(rows)} read(s) of {args.member_id} recorded (kept {config.api.access_log_days} days)")
    return 0


def cmd_export(args: argparse.Namespace, emit: Any) -> int:
    """A member's subject access request: everything held on them, as one JSON document (never a vector)."""
    from storelens.api.books import StoreBooks
    from storelens.apps.api import build_services
    from storelens.config import load_config
    from storelens.web.auth import Principal

    config = load_config(Path(args.config))
    existing_database(config.api.database_url, f"api.database_url in {args.config}")
    services = build_services(config, StoreBooks(config.api.database_url))
    try:
        export = services.subject_access(args.member_id, Principal(f"cli:{getpass.getuser()}", "admin"))
    finally:
        services.close()
    if export is None:
        raise GalleryError(f"nothing held on {args.member_id!r} on this box")
    text = json.dumps(export, indent=1, ensure_ascii=False) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(
            f"{args.out}: everything held on {args.member_id} ({len(export['visits'])} visit(s), "
            f"{len(export['access_log'])} recorded read(s))"
        )
    else:
        sys.stdout.write(text)
    return 0


def cmd_show(args: argparse.Namespace, emit: Any) -> int:
    """Every effective privacy rule, its value and where it comes from."""
    from storelens.config import load_config

    rules = load_config(Path(args.config)).privacy_rules()
    for rule in rules.rules:
        if args.json:
            emit({"rule": rule.key, "value": rule.value, "source": rule.source, "meaning": rule.meaning})
        else:
            print(f"{rule.key:<34} {rule.value:<22} from {rule.source}\n{'':<34} {rule.meaning}")
    return 0


def cmd_notice(args: argparse.Namespace) -> int:
    """The entrance notice sign, as PNG or PDF (by the file's suffix)."""
    from storelens.cli.privacy_docs import notice_texts, render_notice
    from storelens.config import load_config

    config = load_config(Path(args.config))
    fmt = args.out.suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf"):
        raise ConfigError(f"--out {args.out}: the sign is written as .png or .pdf")
    notices = notice_texts(config)
    write_file(args.out, render_notice(notices, fmt))
    languages = ", ".join(n.language for n in notices)
    print(f"{args.out}: notice sign ({notices[0].title}; privacy profile {config.privacy.profile}; {languages})")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """The record of processing, from the effective configuration (Markdown)."""
    from storelens.cli.privacy_docs import processing_record
    from storelens.config import load_config

    text = processing_record(load_config(Path(args.config)))
    if args.out:
        write_file(args.out, text)
        print(f"{args.out}: record of processing")
    else:
        sys.stdout.write(text)
    return 0


def add_privacy_commands(sub: Any, add: Any, emit: Any) -> None:
    """Register the ``privacy`` commands."""
    sp = add(sub, "show", lambda args: cmd_show(args, emit), "every effective privacy rule and its source", True)
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration file (TOML)")
    sp = add(sub, "notice", cmd_notice, "the entrance notice sign (PNG or PDF)")
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration file (TOML)")
    sp.add_argument(
        "--out",
        required=True,
        type=writable_file,
        metavar="FILE.png|FILE.pdf",
        help="the sign to write: .png (A4 at 150 dpi) or .pdf",
    )
    sp = add(sub, "record", cmd_record, "the record of processing (Markdown)")
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration file (TOML)")
    sp.add_argument("--out", type=writable_file, metavar="FILE", help="write it here (default: stdout)")
    sp = add(sub, "access-log", lambda args: cmd_access_log(args, emit), "who read a member's data, when and why", True)
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration file (TOML)")
    add_member_id(sp, help_="a member id, or an erasure receipt id (the log outlives the member)")
    sp = add(sub, "export", lambda args: cmd_export(args, emit), "everything held on a member (subject access)")
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration file (TOML)")
    add_member_id(sp)
    sp.add_argument("--out", type=writable_file, metavar="FILE", help="write the JSON here (default: stdout)")
