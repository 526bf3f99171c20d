"""Secrets out of every message: one helper for logs, errors, CLI output and status details.

Passwords live in the config as ``SecretStr`` (printed as ``**********``); what remains is a password
inside a URL (``rtsp://user:PASSWORD@camera``, ``mqtts://...``, ``postgresql://...``), which
:func:`redact` masks wherever the text came from.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@]*):(?P<password>[^\s@/]*)@")
_KEYED = re.compile(r"(?i)(?P<key>\b(?:password|passwd|pwd|secret|token)\s*=\s*)(?P<q>['\"]?)(?P<value>[^\s'\",&;]+)")
MASK = "***"


def redact(text: str) -> str:
    """``text`` with every URL password and every ``password=...`` value replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _KEYED.sub(lambda m: f"{m['key']}{m['q']}{MASK}", text)


class RedactFilter(logging.Filter):
    """Masks secrets in a log record's final message (installed on every handler a service logs to)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record, with its message redacted."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets in what is written to it (the CLI's stdout and stderr)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        """Write ``text`` redacted; returns the length of ``text`` as given."""
        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self.inner.flush()

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal."""
        return bool(self.inner.isatty())

    def fileno(self) -> int:
        """The wrapped stream's file descriptor."""
        return int(self.inner.fileno())
