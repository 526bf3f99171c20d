"""The edge process's logs at info level name no member and carry no face or embedding."""

from __future__ import annotations

import json
import re
import shutil

from tests.helpers.cli import run_cli
from tests.helpers.configs import edge_config, write_toml


def test_edge_logs_name_no_member(video, truth, members_gallery, broker, tmp_path, prepared_models_dir) -> None:
    gallery = tmp_path / "g"
    shutil.copytree(members_gallery, gallery)
    data = edge_config(tmp_path, str(video), gallery, broker.url, truth, prepared_models_dir)
    log_file = tmp_path / "edge.log"
    data["logging"] = {"level": "info", "json_lines": True, "file": str(log_file)}
    proc = run_cli("edge", "run", "--config", str(write_toml(tmp_path / "e.toml", data)))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    text = " ".join(r["message"] for r in lines)
    assert "vip_arrival event" in text
    for m in truth["members"]:
        assert m["name"] not in text and m["name"].split()[-1] not in text
    assert not re.search(r"(-?\d\.\d{3,}[, ]+){8,}", text)  # nothing like a vector of numbers
