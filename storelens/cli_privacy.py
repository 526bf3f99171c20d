"""``storelens privacy access-log``: who read a member's data, when and why."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from storelens.api.store import EventStore
from storelens.cli_api import existing_database
from storelens.cli_args import bounded, existing_file, writable_file
from storelens.config import load_config
from storelens.errors import GalleryError
from storelens.gallery.records import MemberInfo


def cmd_access_log(args: argparse.Namespace, emit: Any) -> int:
    """Every recorded read of a member (or, after erasure, of the erasure receipt id given as --member-id)."""
    config = load_config(Path(args.config))
    existing_database(config.api.database_url, f"api.database_url in {args.config}")
    store = EventStore(config.api.database_url)
    try:
        rows = store.access_log(args.member_id)
        store.log_access(args.member_id, f"cli:{getpass.getuser()}", "admin", "access-log", "admin")
    finally:
        store.close()
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
    from storelens.api.auth import Principal
    from storelens.apps.api import build_services

    config = load_config(Path(args.config))
    existing_database(config.api.database_url, f"api.database_url in {args.config}")
    services = build_services(config, EventStore(config.api.database_url))
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


def add_privacy_commands(sub: Any, add: Any, emit: Any) -> None:
    """Register ``privacy access-log`` and ``privacy export``."""
    sp = add(sub, "access-log", lambda args: cmd_access_log(args, emit), "who read a member's data, when and why", True)
    sp.add_argument("--config", required=True, type=existing_file)
    sp.add_argument(
        "--member-id",
        required=True,
        type=bounded(MemberInfo, "member_id"),
        help="a member id, or an erasure receipt id (the log outlives the member)",
    )
    sp = add(sub, "export", lambda args: cmd_export(args, emit), "everything held on a member (subject access)")
    sp.add_argument("--config", required=True, type=existing_file)
    sp.add_argument("--member-id", required=True, type=bounded(MemberInfo, "member_id"))
    sp.add_argument("--out", type=writable_file, metavar="FILE", help="write the JSON here (default: stdout)")
