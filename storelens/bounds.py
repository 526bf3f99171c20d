"""Shared bounds: the same limits at every boundary (config, CLI flags, MQTT payloads, HTTP inputs).

Each is an ``Annotated`` type, so pydantic models use it as a field type and ``bounded()`` (CLI) and
FastAPI read the same constraints.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # store and camera ids: topic-safe, never beginning with "_"
MEMBER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}$"  # CRM ids: no spaces, slashes, dots first ("..")
TOKEN_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"  # anonymous visitor ids and footfall tokens
EVENT_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"  # a UUID, lower case
TS_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")  # ISO 8601 UTC with milliseconds

MAX_COUNT = 1_000_000  # entries, visitors, arrivals in one footfall interval
MAX_TOKENS = 10_000  # visitor tokens in one footfall event
MAX_PAYLOAD_BYTES = 512 * 1024  # an MQTT event payload (a footfall event with MAX_TOKENS tokens fits)
MAX_SEQ = 2**63 - 1  # event sequence numbers (a signed 64-bit column)
MAX_TRACK_ID = 2**53  # tracker ids (exact in JSON numbers)
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100  # dates a report or an event may name


def parse_ts(value: str) -> datetime:
    """A time of :data:`TS_FORMAT`'s form as an aware UTC datetime.

    ``fromisoformat``: strptime is ten times slower, and head office parses two per event.

    Raises:
        ValueError: not a calendar time.
    """
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


def check_ts(value: str) -> str:
    """``value`` if it is an ISO 8601 UTC time with milliseconds between 2000 and 2100.

    Raises:
        ValueError: naming the expected form.
    """
    if not TS_FORMAT.match(value):
        raise ValueError("expected an ISO 8601 UTC time with milliseconds, e.g. 2026-11-21T09:00:00.000Z")
    try:
        parsed = parse_ts(value)
    except ValueError as exc:
        raise ValueError(f"not a calendar time: {value}") from exc
    if not EARLIEST_YEAR <= parsed.year < LATEST_YEAR:
        raise ValueError(f"a time between {EARLIEST_YEAR} and {LATEST_YEAR} is expected")
    return value


# C0 and C1 controls, and the bidirectional embeddings, overrides and isolates that reorder what a person reads
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
UNSAFE_PROSE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # lines and tabs allowed


def _refuse_unsafe(value: str, unsafe: re.Pattern[str]) -> str:
    found = unsafe.search(value)
    if found:
        raise ValueError(
            f"a control or bidirectional-override character (U+{ord(found.group()):04X}) at {found.start() + 1}"
        )
    return value


def check_text(value: str) -> str:
    """``value`` if it holds no control or bidirectional-override character (a name, a label: one line).

    Raises:
        ValueError: naming the character and where it is.
    """
    return _refuse_unsafe(value, UNSAFE_TEXT)


def check_prose(value: str) -> str:
    """:func:`check_text` for free text of several lines (line breaks and tabs allowed)."""
    return _refuse_unsafe(value, UNSAFE_PROSE)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("a finite number is expected")
    return value


Ident = Annotated[str, Field(pattern=IDENT)]
MemberId = Annotated[str, Field(min_length=1, max_length=128, pattern=MEMBER_ID)]
TokenId = Annotated[str, Field(min_length=1, max_length=32, pattern=TOKEN_ID)]
EventId = Annotated[str, Field(pattern=EVENT_ID)]
Timestamp = Annotated[str, Field(max_length=24), AfterValidator(check_ts)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
TrackId = Annotated[int, Field(ge=0, le=MAX_TRACK_ID)]
Similarity = Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ)]
Pixel = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False), AfterValidator(_finite)]
Name = Annotated[str, Field(max_length=200), AfterValidator(check_text)]
Text = Annotated[str, AfterValidator(check_text)]  # one line a person reads (add the length with Field)
Prose = Annotated[str, AfterValidator(check_prose)]  # free text a person reads
