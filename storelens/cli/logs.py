"""Logging for the long-running services: plain or JSON lines, to stderr or a rotated file.

What StoreLens logs at info level names cameras, tracks and event ids, never a face image, an
embedding or a member's name.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path

from storelens.config import LoggingConfig
from storelens.errors import ConfigError
from storelens.redact import RedactFilter


class JsonLines(logging.Formatter):
    """One JSON object per line: ts, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(config: LoggingConfig, verbose: int = 0) -> None:
    """Configure the root logger once for a service process."""
    handler: logging.Handler
    if config.file:
        path = Path(config.file)
        if path.is_dir():
            raise ConfigError(f"logging.file: {path} is a directory; give a file name such as {path / 'edge.log'}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=config.max_bytes, backupCount=config.backups, encoding="utf-8"
            )
        except OSError as exc:
            raise ConfigError(f"logging.file: cannot write {path}: {exc.strerror or exc}") from exc
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactFilter())  # no URL password reaches a log
    handler.setFormatter(
        JsonLines() if config.json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.getLevelName(config.level.upper())
    root.setLevel(min(level, logging.WARNING - 10 * min(verbose, 2)) if verbose else level)
    for noisy in ("paho", "uvicorn.access", "amqtt", "transitions", "pika"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
