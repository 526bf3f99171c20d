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
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from storelens.atomic import write_file
from storelens.cli.args import add_hq_config, bounded, existing_file, new_or_dir, number
from storelens.cli.deploy_values import SAFE_PATH, USER_NAME, broker_password, config_path
from storelens.errors import ConfigError

HQ_QUEUE = 2_000_000  # messages queued for head office's session while it restarts (the benchmark's depth)


def _secret(folder: Path, user: str) -> str:
    """The user's password: kept from an earlier run, else made (and written, readable by its owner only)."""
    path = folder / f"{user}.password"
    if path.is_file():
        return broker_password(path)
    password = "p" + secrets.token_urlsafe(24)  # never a leading "-": rabbitmqctl would read it as an option
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return password


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    write_file(path, text, mode)
    print(path)


def mosquitto_files(
    hq_user: str,
    stores: list[str],
    out: Path,
    tls: dict[str, str],
    ports: tuple[int, int],
    data_dir: str,
    run_as: str,
) -> dict[str, str]:
    """``mosquitto.conf`` and ``acl.conf`` of the central broker (the passwords file is written apart)."""
    from storelens.chain import box_topics, command_topic
    from storelens.cli.cmd_hq import KINDS
    from storelens.events import TOPIC_ROOT

    conf = [
        f"# StoreLens central broker: head office ({hq_user}) and {len(stores)} store(s). Written by",
        "# `storelens deploy hq-broker`; start it with `mosquitto -c THIS_FILE` (or include it from /etc/mosquitto).",
        "per_listener_settings false",
        f"user {run_as}",
        "allow_anonymous false",
        f"password_file {out / 'passwords'}",
        f"acl_file {out / 'acl.conf'}",
        f"pid_file {out / 'mosquitto.pid'}",
        "",
        "# Persistence saved after every change: a crash loses no message the broker has acknowledged.",
        "persistence true",
        f"persistence_location {data_dir.rstrip('/')}/",
        "autosave_on_changes true",
        "autosave_interval 1",
        "",
        "# Head office ingests in batches of up to 1,000 and may restart: a deep queue for its session.",
        "max_inflight_messages 1000",
        f"max_queued_messages {HQ_QUEUE}",
        "",
        "# The stores' bridges, over TLS.",
        f"listener {ports[0]}",
        f"certfile {tls['cert']}",
        f"keyfile {tls['key']}",
        *([f"cafile {tls['ca']}"] if tls.get("ca") else []),
        "",
        "# Head office's own processes on this machine.",
        f"listener {ports[1]} 127.0.0.1",
        "",
    ]
    acl = [
        "# Written by `storelens deploy hq-broker`: head office reads and writes every store's topics; each",
        "# store's bridge writes only its own events, statuses and receipts and reads only its own commands.",
        f"user {hq_user}",
        f"topic readwrite {TOPIC_ROOT}/#",
        "",
    ]
    for store in stores:
        acl += [
            f"user store-{store}",
            *(f"topic write {TOPIC_ROOT}/{store}/+/{kind}" for kind in KINDS),
            *(f"topic write {t}" for t in box_topics(store)),
            f"topic read {command_topic(store)}",
            "",
        ]
    return {"mosquitto.conf": "\n".join(conf), "acl.conf": "\n".join(acl)}


def rabbitmq_files(hq_user: str, stores: list[str], tls: dict[str, str], port: int) -> dict[str, str]:
    """``rabbitmq.conf`` (TLS listeners: MQTT for the stores, AMQP for head office) and ``rabbitmq-setup.sh``."""
    from storelens.cli.cmd_hq import rabbitmq_script

    user, secret = shlex.quote(hq_user), shlex.quote(f"secrets/{hq_user}.password")
    conf = [
        "# StoreLens central broker on RabbitMQ's MQTT plugin. Written by `storelens deploy hq-broker`.",
        "mqtt.allow_anonymous = false",
        "mqtt.listeners.tcp = none",
        f"mqtt.listeners.ssl.default = {port}",
        '# AMQP for head office\'s workers (ingest.queue = "rabbitmq"): on loopback, and over TLS for other machines',
        "listeners.tcp.1 = 127.0.0.1:5672",
        "listeners.ssl.default = 5671",
        f"ssl_options.certfile = {tls['cert']}",
        f"ssl_options.keyfile = {tls['key']}",
        *([f"ssl_options.cacertfile = {tls['ca']}"] if tls.get("ca") else []),
        "",
    ]
    setup = [
        "#!/bin/sh",
        "# StoreLens: head office's and every store's users on RabbitMQ. Written by `storelens deploy hq-broker`.",
        "# Usage: sh rabbitmq-setup.sh   (from this folder; the passwords are read from secrets/)",
        "set -e",
        'cd "$(dirname "$0")"',
        "vhost=/",
        "rabbitmq-plugins enable rabbitmq_mqtt",
        f'rabbitmqctl add_user {user} "$(cat {secret})" 2>/dev/null ||',
        f'  rabbitmqctl change_password {user} "$(cat {secret})"',
        f"rabbitmqctl set_permissions -p / {user} '.*' '.*' '.*'",
    ]
    for store in stores:
        body = rabbitmq_script(store, f"store-{store}").split("\n")
        commands = [line for line in body if line.startswith(("rabbitmqctl", "  rabbitmqctl"))]
        setup += [f"# store {store}", f"set -- {shlex.quote(f'secrets/store-{store}.password')}", *commands]
    return {"rabbitmq.conf": "\n".join(conf), "rabbitmq-setup.sh": "\n".join(setup) + "\n"}


EDGE_USER, API_USER = "storelens-edge", "storelens-api"


def store_broker_files(store_id: str, cameras: list[str], port: int, out: Path) -> dict[str, str]:
    """The store broker's ``storelens-broker.conf`` (a drop-in) and ``store.acl``.

    No anonymous client; the edge publishes only its cameras' topics, the store API reads the store's topics
    (head office's commands among them) and writes only its receipts. The bridge is the broker's own.
    """
    from storelens.chain import box_topics
    from storelens.cli.cmd_hq import KINDS
    from storelens.events import TOPIC_ROOT

    conf = [
        f"# StoreLens: store {store_id}'s broker: only the box's own processes. Written by `storelens deploy",
        "# store-broker`; goes in the broker's drop-in folder (e.g. /etc/mosquitto/conf.d).",
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {out / 'passwords'}",
        f"acl_file {out / 'store.acl'}",
        "",
    ]
    acl = [
        "# Written by `storelens deploy store-broker`: the edge writes its cameras' events and statuses only;",
        "# the store API reads the store's topics (events, statuses, head office's commands) and writes receipts.",
        f"user {EDGE_USER}",
        *(f"topic write {TOPIC_ROOT}/{store_id}/{camera}/{kind}" for camera in cameras for kind in KINDS),
        "",
        f"user {API_USER}",
        f"topic read {TOPIC_ROOT}/{store_id}/#",
        *(f"topic write {t}" for t in box_topics(store_id)),
        "topic read $SYS/broker/connection/#",  # `storelens doctor`: is the bridge to head office up
        "topic read $SYS/broker/store/messages/count",  # ... and what the broker holds for it
        "",
    ]
    return {"storelens-broker.conf": "\n".join(conf), "store.acl": "\n".join(acl)}


def write_store_broker(store_id: str, cameras: list[str], port: int, out: Path, broker_user: str) -> Path:
    """Write the store broker's files into ``out`` (passwords kept from an earlier run); the drop-in's path.

    Raises:
        ConfigError: ``out`` cannot be named in a broker configuration, or ``mosquitto_passwd`` is missing.
    """
    out = out.absolute()
    if not SAFE_PATH.fullmatch(str(out)):  # the broker's configuration names files in it
        raise ConfigError(f"--out {str(out)[:120]!r}: letters, digits and _.,@%+=:/- only (no spaces or quotes)")
    folder = out / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o750)
    passwords = {user: _secret(folder, user) for user in (EDGE_USER, API_USER)}
    for name, text in store_broker_files(store_id, cameras, port, out).items():
        write_file(out / name, text, 0o644)
    write_file(out / "passwords", "".join(f"{u}:{p}\n" for u, p in passwords.items()), 0o600)
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise ConfigError(f"{out / 'passwords'}: written in clear; mosquitto_passwd (Debian: mosquitto) hashes it")
    subprocess.run([tool, "-U", str(out / "passwords")], check=True, capture_output=True)
    _readable_by(broker_user, [out / "passwords", out / "store.acl"])
    return out / "storelens-broker.conf"


def cmd_store_broker(args: argparse.Namespace) -> int:
    """Write the store broker's authentication and ACL, and the users' passwords for the edge and the API."""
    from storelens.config import load_config
    from storelens.transport import parse_url

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
    passwords = {hq_user: _secret(folder, hq_user)} | {f"store-{s}": _secret(folder, f"store-{s}") for s in stores}
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
        _readable_by(args.broker_user, [out / "passwords", out / "acl.conf"])
    sys.stderr.write(
        f"storelens: central broker for {len(stores)} store(s): give each store secrets/store-STORE.password for "
        f"`storelens deploy bridge --password-file`; head office logs in as {hq_user} "
        f"(secrets/{hq_user}.password)\n"
    )
    return 0


def _readable_by(user: str, paths: list[Path]) -> None:
    """The broker drops root for ``user`` before it reads its files: give them to that user's group (mode 0640)."""
    import pwd

    if os.geteuid() != 0 or user == "root":
        return
    try:
        group = pwd.getpwnam(user).pw_gid
    except KeyError:
        return  # no such user here (Mosquitto not installed yet): the files stay root's
    for path in paths:
        os.chown(path, 0, group)
        path.chmod(0o640)


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
