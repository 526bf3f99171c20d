"""Service logs: JSON lines, rotated, and never a member's name, a face or an embedding at info level."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from storelens.cli.logs import setup_logging
from storelens.config import LoggingConfig


def test_json_lines_and_rotation(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "storelens.log"
    setup_logging(LoggingConfig(json_lines=True, file=str(log_file), max_bytes=10_000, backups=2))
    try:
        for i in range(400):
            logging.getLogger("storelens.test").info("camera entrance: visitor event %d", i)
        logging.getLogger("storelens.test").debug("not at info level")
    finally:
        setup_logging(LoggingConfig())  # back to standard error for the other tests
    files = sorted(log_file.parent.iterdir())
    assert [f.name for f in files] == ["storelens.log", "storelens.log.1", "storelens.log.2"]
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert all(set(r) == {"ts", "level", "logger", "message"} and r["level"] == "info" for r in rows)
    assert all(f.stat().st_size <= 10_000 for f in files)
