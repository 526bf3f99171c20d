"""The MQTT boundary: every hostile or broken message is logged with its topic and field, and never stored.

Table-driven over the in-memory transport (fast and exact), plus a property test with hypothesis: no
message, however made, raises out of the ingest or stores something that is not a valid event.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storelens.books.event_log import EventLog
from storelens.books.ingest import Ingest
from storelens.clock import iso, utc_now
from storelens.edge_events import ArrivalEvent, FootfallEvent, VisitorEvent, parse_event, topic
from tests.helpers.transport import MemoryBroker, MemoryTransport

STORE, CAMERA = "paris-01", "entrance"


def arrival(**change: Any) -> dict[str, Any]:
    base = json.loads(ArrivalEvent(store_id=STORE, camera_id=CAMERA, member_id="M-1", similarity=0.8,
                                   track_id=3).model_dump_json())  # fmt: skip
    return base | change


def footfall(**change: Any) -> dict[str, Any]:
    start = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=30)
    base = json.loads(FootfallEvent(store_id=STORE, camera_id=CAMERA, interval_start=iso(start),
                                    interval_end=iso(start + timedelta(minutes=15)), entries=3, unique_visitors=2,
                                    vip_arrivals=0, visitor_tokens=("anon-a", "anon-b")).model_dump_json())  # fmt: skip
    return base | change


def without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


ARRIVAL = topic(STORE, CAMERA, "arrival")
FOOTFALL = topic(STORE, CAMERA, "footfall")
BAD: list[tuple[str, str, bytes | Callable[[], Any], str]] = [
    ("ts-not-a-time", ARRIVAL, lambda: arrival(ts="not-a-time"), "ts"),
    ("ts-year-2999", ARRIVAL, lambda: arrival(ts="2999-01-01T00:00:00.000Z"), "between 2000 and 2100"),
    ("ts-tomorrow", ARRIVAL, lambda: arrival(ts=iso(utc_now() + timedelta(days=1))), "in the future"),
    ("ts-two-years-old", ARRIVAL, lambda: arrival(ts=iso(utc_now() - timedelta(days=800))), "days old"),
    ("ts-no-milliseconds", ARRIVAL, lambda: arrival(ts="2026-11-21T09:00:00Z"), "ts"),
    ("no-event-id", ARRIVAL, lambda: without(arrival(), "event_id"), "event_id is required"),
    ("event-id-not-uuid", ARRIVAL, lambda: arrival(event_id="1"), "event_id"),
    ("store-not-the-topic-s", ARRIVAL, lambda: arrival(store_id="lyon-02"), "its topic says otherwise"),
    ("camera-not-the-topic-s", ARRIVAL, lambda: arrival(camera_id="back-door"), "its topic says otherwise"),
    ("kind-not-the-topic-s", topic(STORE, CAMERA, "visitor"), lambda: arrival(), "its topic says otherwise"),
    ("similarity-nan", ARRIVAL, json.dumps(arrival()).replace('"similarity": 0.8', '"similarity": NaN').encode(),
     "similarity"),
    ("similarity-5", ARRIVAL, lambda: arrival(similarity=5.0), "similarity"),
    ("schema-v999", ARRIVAL, lambda: arrival(v=999), "v"),
    ("member-id-1000", ARRIVAL, lambda: arrival(member_id="M" * 1000), "member_id"),
    ("member-id-100kb", ARRIVAL, lambda: arrival(member_id="M" * 100_000), "member_id"),
    ("member-id-dotdot", ARRIVAL, lambda: arrival(member_id=".."), "member_id"),
    ("member-id-slash", ARRIVAL, lambda: arrival(member_id="../etc/passwd"), "member_id"),
    ("payload-5mb", ARRIVAL, lambda: arrival(member_id="M" * 5_000_000), "bytes, at most"),
    ("extra-field", ARRIVAL, lambda: arrival(card={"name": "x"}), "card"),
    ("track-id-negative", ARRIVAL, lambda: arrival(track_id=-1), "track_id"),
    ("not-json", ARRIVAL, b"{not json", "payload"),
    ("json-array", ARRIVAL, b"[1]", "payload"),
    ("json-null", ARRIVAL, b"null", "payload"),
    ("empty", ARRIVAL, b"", "payload"),
    ("not-utf8", ARRIVAL, b"\xff\xfe\xfa", "payload"),
    ("deep-nesting", ARRIVAL, b"[" * 100_000 + b"]" * 100_000, "payload"),
    ("deep-nesting-1mb", ARRIVAL, b"[" * 1_000_000 + b"]" * 1_000_000, "bytes, at most"),
    ("unknown-type", ARRIVAL, lambda: arrival(type="coupon"), "type"),
    ("entries-1e9", FOOTFALL, lambda: footfall(entries=10**9), "entries"),
    ("tokens-200k", FOOTFALL, lambda: footfall(unique_visitors=999_999, visitor_tokens=["anon-x"] * 200_000),
     "bytes, at most"),
    ("tokens-10001", FOOTFALL,
     lambda: footfall(unique_visitors=20_000, visitor_tokens=[f"t{i}" for i in range(10_001)]), "visitor_tokens"),
    ("more-tokens-than-visitors", FOOTFALL, lambda: footfall(unique_visitors=1), "more visitor_tokens"),
    ("unavailable-yet-counted", FOOTFALL, lambda: footfall(unique_visitors_available=False, visitor_tokens=[]),
     "unique visitors unavailable"),
    ("unavailable-with-tokens", FOOTFALL, lambda: footfall(unique_visitors_available=False, unique_visitors=0),
     "more visitor_tokens"),
    ("interval-backwards", FOOTFALL, lambda: footfall(interval_end=footfall()["interval_start"],
                                                      interval_start=footfall()["interval_end"]), "interval_end"),
    ("interval-a-week", FOOTFALL, lambda: footfall(interval_start=iso(utc_now() - timedelta(days=8))),
     "at most a day"),
]  # fmt: skip


@pytest.fixture
def ingest(tmp_path: Path):
    broker = MemoryBroker()
    store = EventLog(f"sqlite:///{tmp_path / 'events.sqlite'}")
    ingest = Ingest(store, MemoryTransport(broker, "api"), STORE)
    ingest.start()
    sender = MemoryTransport(broker, "hostile")
    sender.start()
    yield ingest, sender, store
    sender.stop()
    ingest.stop()
    store.close()


def payload_of(made: bytes | Callable[[], Any]) -> bytes:
    return made if isinstance(made, bytes) else json.dumps(made()).encode()


@pytest.mark.parametrize(("name", "where", "made", "named"), BAD, ids=[row[0] for row in BAD])
def test_a_bad_message_is_logged_and_not_stored(ingest, caplog, name, where, made, named) -> None:
    ingest_, sender, store = ingest
    with caplog.at_level(logging.WARNING, logger="storelens.books.ingest"):
        sender.publish(where, payload_of(made))
    lines = [r.getMessage() for r in caplog.records]
    assert store.count() == 0 and ingest_.rejected == 1
    assert len(lines) == 1 and where in lines[0] and named in lines[0], lines
    assert len(lines[0]) < 800 and not any(r.exc_info for r in caplog.records)  # one line, no traceback


def test_a_good_message_still_goes_through(ingest) -> None:
    ingest_, sender, store = ingest
    for where, data in ((ARRIVAL, arrival()), (FOOTFALL, footfall()), (topic(STORE, CAMERA, "visitor"), json.loads(
            VisitorEvent(store_id=STORE, camera_id=CAMERA, anon_id="anon-1", track_id=1, returning=False,
                         entered=True).model_dump_json()))):  # fmt: skip
        sender.publish(where, json.dumps(data).encode())
        sender.publish(where, json.dumps(data).encode())  # redelivered: stored once
    assert store.count() == 3 and ingest_.rejected == 0 and ingest_.duplicates == 3


SCALARS = st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries({}, optional={
    "v": st.integers(-2, 3), "event_id": st.one_of(st.just(str(uuid.uuid4())), st.text(max_size=40)),
    "type": st.sampled_from(["vip_arrival", "visitor", "footfall", "x"]), "store_id": st.sampled_from([STORE, "", "x"]),
    "camera_id": st.sampled_from([CAMERA, "_hq"]), "member_id": st.text(max_size=30), "similarity": st.floats(),
    "track_id": st.integers(), "ts": st.one_of(st.just(iso(utc_now())), st.text(max_size=30)),
    "anon_id": st.text(max_size=20), "returning": JSONISH, "entered": st.booleans(), "entries": st.integers(),
    "unique_visitors": st.integers(), "vip_arrivals": st.integers(), "interval_start": st.text(max_size=30),
    "interval_end": st.text(max_size=30), "visitor_tokens": st.lists(st.text(max_size=8), max_size=5), "z": JSONISH,
})  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=FIELDS, where=st.sampled_from(["arrival", "visitor", "footfall", "status"]))
def test_any_message_is_stored_valid_or_not_at_all(ingest, data: dict[str, Any], where: str) -> None:
    _, sender, store = ingest
    before = store.count()
    sender.publish(topic(STORE, CAMERA, where), json.dumps(data, allow_nan=True).encode())
    for stored in store.since(limit=10_000)[before:]:
        parse_event(json.dumps(stored.payload))  # what is stored is valid by construction
