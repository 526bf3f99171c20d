"""Running the ``storelens`` command as a user would, and where the repository and test artifacts are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = REPO / "test-artifacts"
# The console command the wheel installed beside this interpreter: what a user runs, never the tree's source.
STORELENS = str(Path(sys.executable).with_name("storelens"))


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stop_after: float | None = None
) -> Any:
    """Run the installed ``storelens`` command; returns the CompletedProcess.

    ``stop_after``: a long-running command is sent SIGTERM after that many seconds (as systemd stops it).
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    argv = [STORELENS, *args]
    if stop_after is None:
        return subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=600,
                              check=False)  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                            cwd=cwd or REPO)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=stop_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
