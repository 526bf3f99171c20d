"""The manual's "Try a chain on one machine" (docs/head-office.md), run as written, with free ports for its ports.

A store (the demo's folder), a central Mosquitto made by ``deploy hq-broker``, head office (``hq serve``), the
store's own Mosquitto bridged with the password made for it, ``doctor`` seeing the bridge up, the sample video
run by ``edge run``, and ``hq report`` holding the store's entries and arrivals.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.manual import block
from tests.helpers.services import free_port

README_PORTS = ("18883", "11883", "12883", "18090")
pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs Debian's mosquitto")


def trial_script() -> str:
    script = block("chain-trial")
    for port in README_PORTS:
        assert port in script
        script = script.replace(port, str(free_port()))
    return script


def test_the_readme_chain_trial_runs_as_written(tmp_path: Path, prepared_models_dir: Path, video: Path) -> None:
    script = tmp_path / "trial.sh"
    script.write_text("set -euo pipefail\n" + trial_script())
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.Popen(["bash", str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        if _alive_group(proc.pid):  # hq serve, started in the background by the script
            os.killpg(proc.pid, signal.SIGKILL)
        for pid_file in tmp_path.glob("chain-trial/*/mosquitto.pid"):
            _kill(pid_file)
    trial = tmp_path / "chain-trial"
    assert proc.returncode == 0, out[-3000:] + err[-3000:] + _read(trial / "hq.log")
    assert "Traceback" not in err + _read(trial / "hq.log")
    bridge = [line for line in out.splitlines() if " bridge " in line]
    assert bridge and bridge[0].startswith("OK") and "connected" in bridge[0], out
    rows = [r for r in csv.DictReader(io.StringIO(out[out.index("store_id") :])) if r["store_id"] == "demo-store"]
    assert sum(int(r["entries"]) for r in rows) == 6 and sum(int(r["vip_arrivals"]) for r in rows) == 2, rows
    assert "/console" in out.splitlines()[-1] and (trial / "analyst.token").read_text().strip()  # how to sign in


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def _alive_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill(pid_file: Path) -> None:
    with contextlib.suppress(ValueError, ProcessLookupError, FileNotFoundError):  # it may have just stopped
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
