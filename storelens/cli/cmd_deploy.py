"""``storelens deploy hq-broker``: the central broker's whole configuration for every store of ``hq.toml``.

Mosquitto: ``mosquitto.conf`` (a TLS listener for the stores' bridges, a loopback listener for head office's own
processes, no anonymous client, persistence saved after every change so that a crash of the central broker loses
no message it has acknowledged), ``passwords`` (hashed by Mosquitto's own ``mosquitto_passwd -U``), ``acl.conf``
(each store's bridge writes only its own events, statuses and receipts and reads only its own commands; head office
reads and writes everything); RabbitMQ: ``rabbitmq.conf`` and ``rabbitmq-setup.sh`` with the same meaning. Each
user's password is in ``secrets/USER.password`` (mode 0600): a store's goes to its box for ``deploy bridge
--password-file``. Running it again keeps every password it made and adds the stores new to ``hq.toml``.
Every value written comes from a validated config (store ids match their pattern) or a checked flag: no file
here can be made to carry a line it was not meant to.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from storelens.atomic import write_file
from storelens.cli.args import add_hq_config, bounded, existing_file, new_or_dir, number
from storelens.errors import ConfigError
from storelens.transport.values import SAFE_PATH, USER_NAME, config_path


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    write_file(path, text, mode)
    print(path)


def cmd_store_broker(args: argparse.Namespace) -> int:
    """Write the store broker's authentication and ACL, and the users' passwords for the edge and the API."""
    from storelens.config import load_config
    from storelens.transport.broker_files import API_USER, EDGE_USER, write_store_broker
    from storelens.transport.mqtt import parse_url

    config = load_config(Path(args.config))
    port = parse_url(config.mqtt.url).port
    conf = write_store_broker(config.store.id, [c.id for c in config.cameras], port, args.out, args.broker_user)
    for name in ("storelens-broker.conf", "store.acl", "passwords"):
        print(conf.parent / name)
    secrets_dir = Path(os.path.relpath(conf.parent / "secrets", Path(args.config).absolute().parent))
    sys.stderr.write(
        f"storelens: store broker for {config.store.id}: include {conf} in Mosquitto's configuration; in "
        f"{args.config}, [mqtt] needs username = {json.dumps(API_USER)}, password_file = "
        f"{json.dumps(str(secrets_dir / (API_USER + '.password')))}, edge_username = {json.dumps(EDGE_USER)}, "
        f"edge_password_file = {json.dumps(str(secrets_dir / (EDGE_USER + '.password')))}\n"
    )
    return 0


def cmd_hq_broker(args: argparse.Namespace) -> int:
    """Write the central broker's configuration, users and access rules for every store of ``hq.toml``."""
    from storelens.config import load_hq_config
    from storelens.transport.broker_files import broker_secret, mosquitto_files, rabbitmq_files, readable_by

    config = load_hq_config(Path(args.config))
    stores = [s.id for s in config.stores]
    if not stores:
        raise ConfigError(f"{args.config}: no [[stores]]: list the chain's stores first")
    hq_user = config.mqtt.username or "storelens-hq"
    if not USER_NAME.fullmatch(hq_user):
        raise ConfigError(f"mqtt.username in {args.config}: 1-64 letters, digits and _.@- only (got {hq_user[:80]!r})")
    out: Path = args.out.absolute()
    if not SAFE_PATH.fullmatch(str(out)):  # the broker's configuration names files in it
        raise ConfigError(f"--out {str(out)[:120]!r}: letters, digits and _.,@%+=:/- only (no spaces or quotes)")
    folder = out / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    passwords = {hq_user: broker_secret(folder, hq_user)} | {
        f"store-{s}": broker_secret(folder, f"store-{s}") for s in stores
    }
    tls = {"cert": args.cert_file, "key": args.key_file, "ca": args.ca_file or ""}
    if args.broker == "rabbitmq":
        files = rabbitmq_files(hq_user, stores, tls, args.port)
    else:
        ports = (args.port, args.local_port)
        files = mosquitto_files(hq_user, stores, out, tls, ports, args.data_dir, args.broker_user)
    for name, text in files.items():
        _write(out / name, text, 0o755 if name.endswith(".sh") else 0o644)
    if args.broker == "mosquitto":
        _write(out / "passwords", "".join(f"{u}:{p}\n" for u, p in passwords.items()), 0o600)
        tool = shutil.which("mosquitto_passwd")
        if tool is None:
            raise ConfigError(f"{out / 'passwords'}: written in clear; mosquitto_passwd (Debian: mosquitto) hashes it")
        subprocess.run([tool, "-U", str(out / "passwords")], check=True, capture_output=True)
        readable_by(args.broker_user, [out / "passwords", out / "acl.conf"])
    sys.stderr.write(
        f"storelens: central broker for {len(stores)} store(s): give each store secrets/store-STORE.password for "
        f"`storelens deploy bridge --password-file`; head office logs in as {hq_user} "
        f"(secrets/{hq_user}.password)\n"
    )
    return 0


def add_deploy_commands(deploy: Any, add: Any) -> None:
    """Register ``deploy hq-broker`` and ``deploy store-broker`` on the ``deploy`` parser."""
    sp = add(
        deploy, "store-broker", cmd_store_broker, "write the store broker's passwords and ACL (no anonymous client)"
    )
    sp.add_argument("--config", required=True, type=existing_file, help="the store's configuration (storelens.toml)")
    sp.add_argument("--out", required=True, type=new_or_dir, help="folder to write the broker's files into")
    sp.add_argument(
        "--broker-user",
        type=bounded("storelens.config:StoreConfig", "id"),
        default="mosquitto",
        help="the user Mosquitto drops root for; it reads the passwords and ACL (default mosquitto)",
    )
    sp = add(deploy, "hq-broker", cmd_hq_broker, "write the central broker's configuration for every store of hq.toml")
    add_hq_config(sp)
    sp.add_argument("--out", required=True, type=new_or_dir, help="folder to write the broker's files into")
    sp.add_argument(
        "--broker", choices=["mosquitto", "rabbitmq"], default="mosquitto", help="the central broker's kind"
    )
    sp.add_argument("--cert-file", required=True, type=config_path, help="the broker's TLS certificate (PEM)")
    sp.add_argument("--key-file", required=True, type=config_path, help="the broker's TLS private key (PEM)")
    sp.add_argument("--ca-file", type=config_path, help="CA bundle of the certificates (when not a public CA)")
    port = number(int, "port", ge=1, le=65535)
    sp.add_argument("--port", type=port, default=8883, help="the stores' TLS listener (default 8883)")
    sp.add_argument("--local-port", type=port, default=1883, help="head office's loopback listener (default 1883)")
    sp.add_argument(
        "--broker-user",
        type=bounded("storelens.config:StoreConfig", "id"),
        default="mosquitto",
        help="the user Mosquitto drops root for; it reads the passwords and ACL (default mosquitto)",
    )
    sp.add_argument(
        "--data-dir",
        type=config_path,
        default="/var/lib/mosquitto",
        help="where Mosquitto keeps its persistence file (default /var/lib/mosquitto)",
    )
