"""``storelens edge run`` from the command line: validation, overrides, file runs, a missing broker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from storelens.edge.outbox import Outbox
from tests.helpers.cli import run_cli
from tests.helpers.configs import edge_config, write_toml
from tests.helpers.services import free_port


def test_edge_run_validates_and_refuses_bad_overrides(
    video, truth, members_gallery, tmp_path, prepared_models_dir
) -> None:
    cfg = write_toml(
        tmp_path / "e.toml",
        edge_config(tmp_path, str(video), members_gallery, "mqtt://127.0.0.1:1", truth, prepared_models_dir),
    )
    ok = run_cli("edge", "run", "--config", str(cfg), "--validate-config")
    assert ok.returncode == 0 and "valid" in ok.stdout
    nope = run_cli("edge", "run", "--config", str(cfg), "--camera", "backdoor")
    assert nope.returncode == 2 and "no such camera" in nope.stderr and "entrance" in nope.stderr
    missing = run_cli("edge", "run", "--config", str(cfg), "--source", str(tmp_path / "none.mp4"))
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    bad_url = run_cli("edge", "run", "--config", str(cfg), "--mqtt", "http://x")
    assert bad_url.returncode == 2 and "mqtt.url" in bad_url.stderr


def test_file_run_with_no_broker_keeps_events_for_later(
    video, truth, members_gallery, tmp_path, prepared_models_dir
) -> None:
    gallery = tmp_path / "g"
    shutil.copytree(members_gallery, gallery)
    data = edge_config(
        tmp_path,
        str(video),
        gallery,
        f"mqtt://127.0.0.1:{free_port()}",
        truth,
        prepared_models_dir,
        drain_timeout_seconds=1,
    )
    proc = run_cli("edge", "run", "--config", str(write_toml(tmp_path / "e.toml", data)))
    assert proc.returncode == 1
    assert "not yet acknowledged by the broker; they stay in" in proc.stderr
    summary = json.loads(proc.stderr.split("edge run finished: ", 1)[1].splitlines()[0])
    kept = Outbox(Path(data["edge"]["outbox"])).depth()
    assert kept == summary["entrance"]["events"] >= 10
