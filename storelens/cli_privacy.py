"""``storelens privacy access-log``: who read a member's data, when and why."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any

from storelens.api.store import EventStore
from storelens.cli_api import existing_database
from storelens.cli_args import bounded, existing_file
from storelens.config import load_config
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


def add_privacy_commands(sub: Any, add: Any, emit: Any) -> None:
    """Register ``privacy access-log``."""
    sp = add(sub, "access-log", lambda args: cmd_access_log(args, emit), "who read a member's data, when and why", True)
    sp.add_argument("--config", required=True, type=existing_file)
    sp.add_argument(
        "--member-id",
        required=True,
        type=bounded(MemberInfo, "member_id"),
        help="a member id, or an erasure receipt id (the log outlives the member)",
    )
