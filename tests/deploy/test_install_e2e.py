"""``deploy/install.sh`` end to end, into a temporary prefix on this machine, then the box it installed.

What a sandbox cannot do is stated and checked another way: systemd does not run here, so the units are not
enabled (``SKIP_SYSTEMCTL``) but checked by ``systemd-analyze verify``; the Debian packages the script needs are
already on the machine (``make test`` installs them), so its apt step finds them and installs nothing.
Everything else runs as on a store box: the service user, the venv built from the checkout (a wheel, not the
tree), the models prepared from the package registry with their checksums, the configuration, TLS files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from storelens.models.prepare import cache_dir
from tests.helpers.cli import REPO
from tests.helpers.configs import edge_config, write_toml
from tests.helpers.services import Collector, free_port, wait_port

# One worker runs the whole module: its box is installed once (a module fixture per worker would install it twice).
pytestmark = pytest.mark.xdist_group("installed-box")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.skip("install.sh runs as root (CI runs as root)")
    root = tmp_path_factory.mktemp("box")
    where = {name: root / name for name in ("opt", "etc", "data", "log", "units", "mosquitto")}
    for name in ("units", "mosquitto"):
        where[name].mkdir()
    env = dict(
        os.environ,
        PREFIX=str(where["opt"]),
        CONF_DIR=str(where["etc"]),
        DATA=str(where["data"]),
        LOGS=str(where["log"]),
        UNITS=str(where["units"]),
        MOSQUITTO_CONF=str(where["mosquitto"]),
        CACHE=str(cache_dir()),  # the registry archives the suite already fetched: no second download
        SKIP_SYSTEMCTL="1",
    )
    proc = subprocess.run(["bash", str(REPO / "deploy" / "install.sh")], env=env, capture_output=True, text=True,
                          timeout=1800, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    where["venv"] = where["opt"] / "venv"
    where["storelens"] = where["venv"] / "bin" / "storelens"
    return where


def run(box: dict[str, Path], *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(box["storelens"]), *args], capture_output=True, text=True, timeout=600, check=False,
                          cwd="/", **kw)  # fmt: skip


def test_install_lays_out_the_box(box: dict[str, Path]) -> None:
    installed = subprocess.run(
        [str(box["venv"] / "bin" / "python"), "-c", "import storelens.edge; print(storelens.edge.__file__)"],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout  # fmt: skip
    assert "/site-packages/storelens/edge/" in installed  # the package, not a checkout on the path
    assert not (box["opt"] / "src" / ".venv").exists() and not (box["opt"] / "src" / ".git").exists()
    config = box["etc"] / "storelens.toml"
    assert run(box, "--validate-config", str(config)).returncode == 0
    assert (box["etc"] / "api.crt").is_file() and (box["etc"] / "api.key").stat().st_mode & 0o077 == 0o040
    assert "max_queued_messages 200000" in (box["mosquitto"] / "storelens.conf").read_text()
    broker = (box["mosquitto"] / "storelens-broker.conf").read_text()  # the store broker: no anonymous client
    assert "allow_anonymous false" in broker and f"acl_file {box['etc'] / 'broker' / 'store.acl'}" in broker
    secrets = box["etc"] / "broker" / "secrets"
    for user in ("storelens-api", "storelens-edge"):
        password = (secrets / f"{user}.password").read_text().strip()
        assert (secrets / f"{user}.password").stat().st_mode & 0o777 == 0o640 and password
        assert password not in (box["etc"] / "broker" / "passwords").read_text()  # hashed there
    models = [json.loads(line) for line in run(box, "models", "list", "--json", "--models-dir",
                                                str(box["data"] / "models")).stdout.splitlines()]  # fmt: skip
    ready = {m["name"] for m in models if m["status"] == "ready"}
    assert {"yunet_2023mar", "sface_2021dec", "scrfd_2.5g", "dlib_resnet_v1"} <= ready
    units = sorted(box["units"].glob("*.service"))
    assert [u.name for u in units] == ["storelens-api.service", "storelens-edge.service"]
    assert all(str(box["storelens"]) in u.read_text() for u in units)
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True,
                                  text=True, check=False)  # fmt: skip
        assert verified.returncode == 0, verified.stderr


def test_every_top_level_command_of_the_installed_box_answers(box: dict[str, Path]) -> None:
    code = (
        "import argparse, json; from storelens.cli.main import build_parser; p = build_parser(); "
        "print(json.dumps([n for a in p._actions if isinstance(a, argparse._SubParsersAction) for n in a.choices]))"
    )
    python = str(box["venv"] / "bin" / "python")
    commands = json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert {"models", "gallery", "edge", "api", "report", "hq", "deploy", "doctor", "demo", "bench"} <= set(commands)
    assert run(box, "--help").returncode == 0
    for command in commands:
        proc = run(box, command, "--help")
        assert proc.returncode == 0 and "usage: storelens" in proc.stdout, (command, proc.stderr)
    prepared = run(box, "models", "prepare", "--models-dir", str(box["data"] / "models"))
    assert prepared.returncode == 0 and "(present)" in prepared.stdout, prepared.stderr


def test_the_installed_box_runs_the_sample_video_and_serves_the_api(
    box: dict[str, Path], tmp_path: Path, broker, video: Path, members_gallery: Path, truth: dict[str, Any]
) -> None:
    data = edge_config(tmp_path, str(video), members_gallery, broker.url, truth, box["data"] / "models")
    port = free_port()
    data["api"] = {"port": port, "database_url": f"sqlite:///{tmp_path / 'events.sqlite'}"}
    data["edge"]["metrics_port"] = -1
    config = write_toml(tmp_path / "store.toml", data)
    doctor = run(box, "doctor", "--config", str(config))
    lines = {line.split()[1]: line.split()[0] for line in doctor.stdout.splitlines() if line.strip()}
    assert lines["models"] == "OK" and lines["broker"] == "OK" and lines["gallery"] == "OK", doctor.stdout
    collector = Collector(broker.port)
    try:
        edge = run(box, "edge", "run", "--config", str(config))
        assert edge.returncode == 0, edge.stderr[-2000:]
        arrivals = {e["member_id"] for e in collector.events("vip_arrival")}
        assert sorted(arrivals) == truth["expected"]["arrivals"]
    finally:
        collector.stop()
    api = subprocess.Popen([str(box["storelens"]), "api", "serve", "--config", str(config)], cwd="/",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_port(port, 60)
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10)
        assert health.status_code == 200, health.text
    finally:
        api.send_signal(signal.SIGTERM)
        _, err = api.communicate(timeout=60)
    assert api.returncode == 0 and "Traceback" not in err


def test_the_box_has_no_head_office_parts_and_refuses_hq_serve_naming_the_extra(box: dict[str, Path]) -> None:
    python = str(box["venv"] / "bin" / "python")
    for module in ("pika", "psycopg", "amqtt", "insightface"):  # head office's, the demo's and SCRFD's extras
        found = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, check=False)
        assert found.returncode == 1 and "ModuleNotFoundError" in found.stderr, module
    proc = run(box, "hq", "serve", "--config", str(REPO / "deploy" / "hq.toml.example"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "storelens: error: storelens hq serve needs StoreLens's [hq] extra (pika, psycopg not installed): "
        "pip install 'storelens[hq]'"
    ]
