#!/usr/bin/env bash
# Render the systemd units for an install: render-units.sh VENV CONFIG DATA LOGS PREFIX OUTDIR
set -euo pipefail
[ $# -eq 6 ] || { echo "usage: render-units.sh VENV CONFIG DATA LOGS PREFIX OUTDIR" >&2; exit 2; }
VENV=$1 CONFIG=$2 DATA=$3 LOGS=$4 PREFIX=$5 OUT=$6
# each value goes into the units as it is (and through sed): an absolute path of plain characters only
for name in VENV CONFIG DATA LOGS PREFIX; do
  value=${!name}
  if ! [[ $value =~ ^/[A-Za-z0-9_.,@%+=:/-]+$ ]]; then
    printf 'render-units.sh: %s=%q: an absolute path of letters, digits and _.,@%%+=:/- only\n' "$name" "$value" >&2
    exit 2
  fi
done
HERE="$(cd "$(dirname "$0")" && pwd)"
for unit in storelens-edge.service storelens-api.service; do
  sed -e "s#@VENV@#$VENV#g" -e "s#@CONFIG@#$CONFIG#g" -e "s#@DATA@#$DATA#g" -e "s#@LOGS@#$LOGS#g" \
      -e "s#@PREFIX@#$PREFIX#g" "$HERE/systemd/$unit" > "$OUT/$unit"
done
