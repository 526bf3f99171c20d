"""Time on the ground floor: now, ISO 8601 UTC strings, interval floors. Every stage reads time from here."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, UTC, millisecond precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(ts: datetime) -> str:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-21T23:18:00.123Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def now_iso() -> str:
    """Now, ISO 8601 UTC with milliseconds."""
    return iso(utc_now())


def floor_interval(ts: datetime, minutes: int) -> datetime:
    """Start of the ``minutes``-long interval holding ``ts`` (intervals aligned to midnight UTC)."""
    since = ts.hour * 60 + ts.minute
    start = since - since % minutes
    return ts.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)
