"""Broker configuration files the project writes: the store broker, its bridge to head office, the central broker.

Mosquitto's (a store broker's drop-in and ACL, the bridge, the central ``mosquitto.conf``, passwords and ACL) and
RabbitMQ's (``rabbitmq.conf`` and the ``rabbitmqctl`` scripts), each store's bridge allowed its own topics only.
Every value written comes from a validated config (store ids match their pattern) or a checked flag
(:mod:`storelens.transport.values`): no file here can be made to carry a line it was not meant to. The event
kinds a store sends are :data:`storelens.edge_events.Kind`'s, never a second list.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import get_args

from storelens.atomic import write_file
from storelens.edge_events import Kind
from storelens.errors import ConfigError
from storelens.transport.values import SAFE_PATH, broker_password

QUEUE_MESSAGES = 200_000  # a day offline for a busy store: footfall, visitors and arrivals of 4 cameras

KINDS: tuple[str, ...] = get_args(Kind)  # what a store sends: its events and statuses
# what a store's bridge sends head office under camera topics: its events. A camera's status stays on the store
# broker; the store API sends it on, signed by the box's key, on the box's status topic (chain_messages.box_topics).
EVENT_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k != "status")


def _rabbit_key(topic: str) -> str:
    """An MQTT topic as RabbitMQ's routing key regex (its MQTT plugin maps ``/`` to ``.``; ``+`` is one level)."""
    return "^" + "\\.".join("[^.]+" if part == "+" else part.replace(".", "\\.") for part in topic.split("/")) + "$"


def rabbitmq_script(store_id: str, username: str) -> str:
    """The ``rabbitmqctl`` commands giving the store's bridge user what the Mosquitto ACL gives it, no more.

    RabbitMQ's MQTT plugin publishes to ``amq.topic`` and keeps a persistent session in a queue named after
    the client id; topic permissions bound what the user may publish (write) and subscribe to (read).
    """
    from storelens.chain_messages import box_topics, command_topic
    from storelens.edge_events import TOPIC_ROOT

    # the bridge's session queues (QoS 0 and 1), anchored at both ends: store s1 gains nothing of store s10's
    queue = f"mqtt-subscription-storelens-bridge-{store_id}".replace(".", "\\.") + "qos[01]"
    user = shlex.quote(username)
    configure, access = shlex.quote(f"^{queue}$"), shlex.quote(f"^(amq\\.topic|{queue})$")
    reads = shlex.quote(_rabbit_key(command_topic(store_id)))
    writes = (
        "|".join(_rabbit_key(f"{TOPIC_ROOT}/{store_id}/+/{k}") for k in EVENT_KINDS)
        + "|"
        + "|".join(_rabbit_key(t) for t in box_topics(store_id))
    )
    lines = [
        "#!/bin/sh",
        f"# StoreLens: store {store_id}'s bridge user on a RabbitMQ central broker (MQTT plugin). Written by",
        "# `storelens deploy bridge --hq-broker rabbitmq`. Usage: sh THIS_FILE PASSWORD_FILE [VHOST]",
        "set -e",
        'vhost="${2:-/}"',
        f'rabbitmqctl add_user {user} "$(cat "$1")" 2>/dev/null ||',
        f'  rabbitmqctl change_password {user} "$(cat "$1")"',
        f'rabbitmqctl set_permissions -p "$vhost" {user} {configure} {access} {access}',
        f'rabbitmqctl set_topic_permissions -p "$vhost" {user} amq.topic {shlex.quote(writes)} {reads}',
        "",
    ]
    return "\n".join(lines)


def bridge_files(
    store_id: str, hq_url: str, username: str, password: str, ca_file: str | None, hq_broker: str = "mosquitto"
) -> dict[str, str]:
    """The store broker's bridge configuration, and the central broker's access rules for this store."""
    from storelens.chain_messages import box_topics, command_topic
    from storelens.edge_events import TOPIC_ROOT

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
        # the bridge's state, retained on the store broker only: `storelens doctor` reads it
        "notifications true",
        "notifications_local_only true",
        # a Mosquitto central broker knows a bridge (loop detection, retained flags); others refuse the flag
        f"try_private {'true' if hq_broker == 'mosquitto' else 'false'}",
        # Out: the store's events and statuses, and its receipts; in: head office's commands for this store.
        # Listed kind by kind so that a command brought in is never sent back out (brokers without
        # try_private, e.g. RabbitMQ, would loop it).
        *(f"topic {TOPIC_ROOT}/{store_id}/+/{kind} out 1" for kind in EVENT_KINDS),
        *(f"topic {t} out 1" for t in box_topics(store_id)),
        f"topic {command_topic(store_id)} in 1",
    ]
    if tls:
        lines.append(f"bridge_cafile {ca_file or '/etc/ssl/certs/ca-certificates.crt'}")
    acl = [
        f"# The central broker's ACL for store {store_id} (its bridge logs in as {username}): it may publish",
        "# its own events, statuses and receipts only, and read head office's commands for it only.",
        f"user {username}",
        *(f"topic write {TOPIC_ROOT}/{store_id}/+/{kind}" for kind in EVENT_KINDS),
        *(f"topic write {t}" for t in box_topics(store_id)),
        f"topic read {command_topic(store_id)}",
        "",
    ]
    bridge = "\n".join(lines) + "\n"
    if hq_broker == "rabbitmq":
        return {"storelens-bridge.conf": bridge, f"hq-rabbitmq-{store_id}.sh": rabbitmq_script(store_id, username)}
    return {"storelens-bridge.conf": bridge, f"hq-acl-{store_id}.conf": "\n".join(acl)}


EDGE_USER, API_USER = "storelens-edge", "storelens-api"  # the store broker's users: the edge and the store API
HQ_QUEUE = 2_000_000  # messages queued for head office's session while it restarts (the benchmark's depth)


def broker_secret(folder: Path, user: str) -> str:
    """The user's password: kept from an earlier run, else made (and written, readable by its owner only)."""
    path = folder / f"{user}.password"
    if path.is_file():
        return broker_password(path)
    password = "p" + secrets.token_urlsafe(24)  # never a leading "-": rabbitmqctl would read it as an option
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return password


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
    from storelens.chain_messages import box_topics, command_topic
    from storelens.edge_events import TOPIC_ROOT

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
            *(f"topic write {TOPIC_ROOT}/{store}/+/{kind}" for kind in EVENT_KINDS),
            *(f"topic write {t}" for t in box_topics(store)),
            f"topic read {command_topic(store)}",
            "",
        ]
    return {"mosquitto.conf": "\n".join(conf), "acl.conf": "\n".join(acl)}


def rabbitmq_files(hq_user: str, stores: list[str], tls: dict[str, str], port: int) -> dict[str, str]:
    """``rabbitmq.conf`` (TLS listeners: MQTT for the stores, AMQP for head office) and ``rabbitmq-setup.sh``."""
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


def store_broker_files(store_id: str, cameras: list[str], port: int, out: Path) -> dict[str, str]:
    """The store broker's ``storelens-broker.conf`` (a drop-in) and ``store.acl``.

    No anonymous client; the edge publishes only its cameras' topics, the store API reads the store's topics
    (head office's commands among them) and writes only its receipts. The bridge is the broker's own.
    """
    from storelens.chain_messages import box_topics
    from storelens.edge_events import TOPIC_ROOT

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
    passwords = {user: broker_secret(folder, user) for user in (EDGE_USER, API_USER)}
    for name, text in store_broker_files(store_id, cameras, port, out).items():
        write_file(out / name, text, 0o644)
    write_file(out / "passwords", "".join(f"{u}:{p}\n" for u, p in passwords.items()), 0o600)
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise ConfigError(f"{out / 'passwords'}: written in clear; mosquitto_passwd (Debian: mosquitto) hashes it")
    subprocess.run([tool, "-U", str(out / "passwords")], check=True, capture_output=True)
    readable_by(broker_user, [out / "passwords", out / "store.acl"])
    return out / "storelens-broker.conf"


def readable_by(user: str, paths: list[Path]) -> None:
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
