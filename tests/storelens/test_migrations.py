"""Upgrades keep data: stores written by the previous schema open, migrate forward, and still work."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from storelens.api.books import StoreBooks
from storelens.books.event_log import EventLog
from storelens.config import GalleryConfig
from storelens.edge.outbox import Outbox
from storelens.edge_events import ArrivalEvent
from storelens.errors import DatabaseError, GalleryError, SchemaError
from storelens.gallery.gallery import Gallery, MatchPolicy, NewVector
from storelens.gallery.records import Consent, MemberInfo
from storelens.members import member_hash

OUTBOX_V1 = """
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE NOT NULL, camera_id TEXT NOT NULL,
                     topic TEXT NOT NULL, payload BLOB NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO outbox (event_id, camera_id, topic, payload) VALUES ('e1', 'cam', 'storelens/v1/s/cam/arrival', X'7B7D');
INSERT INTO outbox (event_id, camera_id, topic, payload) VALUES ('e2', 'cam', 'storelens/v1/s/cam/visitor', X'7B7D');
"""

EVENTS_V1 = [
    "CREATE TABLE events (seq {SERIAL} PRIMARY KEY, event_id VARCHAR(64) NOT NULL UNIQUE, type VARCHAR(20) NOT NULL, "
    "store_id VARCHAR(64) NOT NULL, camera_id VARCHAR(64) NOT NULL, ts VARCHAR(32) NOT NULL, payload TEXT NOT NULL, "
    "received_at VARCHAR(32) NOT NULL)",
    "CREATE TABLE tokens (token_hash VARCHAR(64) PRIMARY KEY, name VARCHAR(128) NOT NULL, role VARCHAR(16) NOT NULL, "
    "created_at VARCHAR(32) NOT NULL)",
    "CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO meta VALUES ('schema_version', '1')",
]


def test_outbox_v1_upgrades_and_keeps_pending_events(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OUTBOX_V1)
    db.close()
    box = Outbox(path)
    assert [p.event_id for p in box.pending("cam")] == ["e1", "e2"]
    box.put("e3", "cam", "t", b"{}")
    assert box.depth() == 3
    version = box.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    stamped = box.db.execute("SELECT COUNT(*) FROM outbox WHERE created_at != ''").fetchone()[0]
    assert (version, stamped) == ("2", 3)


def test_gallery_v1_upgrades_and_keeps_members(tmp_path: Path) -> None:
    cfg = GalleryConfig(refresh_seconds=0)
    g = Gallery(tmp_path / "g", "dlib_resnet_v1", 128, MatchPolicy(0.9, 0.03), cfg)
    v = np.zeros(128, np.float32)
    v[0] = 1
    consent = Consent(reference="C", notice_version="1", purpose="p")
    g.enroll(MemberInfo(member_id="a"), consent, [NewVector(v, "s", tmp_path / "a.jpg")])
    g.enroll(MemberInfo(member_id="b"), consent, [NewVector(np.roll(v, 1), "t", tmp_path / "b.jpg")])
    g.close()
    db = sqlite3.connect(tmp_path / "g" / "gallery.sqlite")  # make it what schema 1 wrote
    db.execute("ALTER TABLE erasures DROP COLUMN consents")
    db.execute("ALTER TABLE consents RENAME COLUMN minor TO under_14")
    for column in ("separate", "written_release", "profile"):  # schema 3's consent columns
        db.execute(f"ALTER TABLE consents DROP COLUMN {column}")
    db.execute("ALTER TABLE members DROP COLUMN kind")  # schema 4's staff list
    db.execute("DROP TABLE chain_versions")  # schema 5's versions of head office's changes
    for column in ("scope", "share_visits"):  # schema 6's consent scope and visit sharing, and its outbox
        db.execute(f"ALTER TABLE consents DROP COLUMN {column}")
    db.execute("DROP TABLE chain_outbox")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    g = Gallery(tmp_path / "g", "dlib_resnet_v1", 128, MatchPolicy(0.9, 0.03), cfg)
    assert [m.member_id for m in g.members()] == ["a", "b"]
    kept = g.members()[1]
    assert (kept.minor, kept.separate, kept.written_release, kept.profile) == (False, False, None, "custom")
    assert kept.kind == "member" and not g.is_staff("b")
    assert g.remove("a").removed_consents == 1
    logged = g.templates.db.execute("SELECT consents FROM erasures").fetchone()[0]
    assert (
        logged == 1 and g.templates.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "6"
    )
    assert g.chain_version("b") == 0
    consent_b = g.templates.consent("b")
    assert consent_b is not None and (consent_b.scope, consent_b.share_visits) == ("home", False)
    assert g.templates.reports(10)[-1][2:4] == (member_hash("a"), "erased")  # the erasure, by hash only
    g.close()


def test_newer_gallery_is_refused(tmp_path: Path) -> None:
    cfg = GalleryConfig()
    Gallery(tmp_path / "g", "dlib_resnet_v1", 128, MatchPolicy(0.9, 0.03), cfg).close()
    db = sqlite3.connect(tmp_path / "g" / "gallery.sqlite")
    db.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(GalleryError, match="schema 9 is newer than this StoreLens"):
        Gallery(tmp_path / "g", "dlib_resnet_v1", 128, MatchPolicy(0.9, 0.03), cfg)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_event_store_v1_upgrades(backend: str, tmp_path: Path, request) -> None:
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    if backend == "postgresql":  # a database of its own on the test server, not the shared one
        server_url = request.getfixturevalue("postgres").url
        name = f"upgrade_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = server_url.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    arrival = ArrivalEvent(store_id="s", camera_id="c", member_id="M-7", similarity=0.95, track_id=1)
    with engine.begin() as conn:
        serial = "SERIAL" if backend == "postgresql" else "INTEGER"  # what SQLAlchemy made for schema 1
        for statement in EVENTS_V1:
            conn.execute(text(statement.replace("{SERIAL}", serial)))
        conn.execute(
            text(
                "INSERT INTO events (seq, event_id, type, store_id, camera_id, ts, payload, received_at) "
                "VALUES (1, :id, 'vip_arrival', 's', 'c', :ts, :payload, :ts)"
            ),
            {"id": arrival.event_id, "ts": arrival.ts, "payload": arrival.model_dump_json()},
        )
    engine.dispose()
    store = StoreBooks(url)
    assert store.events.visits("M-7") == [arrival.ts]  # the migration filled member_id in from the stored payload
    assert store.erase_member("M-7")["arrival_events"] == 1
    with store.engine.connect() as conn:
        versions = dict(conn.execute(text("SELECT key, value FROM meta")).all())
    assert versions == {
        "schema_version": "1",
        "schema.events": "4",
        "schema.commerce": "1",
        "schema.access_log": "1",
        "schema.tokens": "1",
    }  # each store its own version; fmt: skip
    store.close()


@pytest.mark.parametrize(
    "statements",
    [
        ["UPDATE meta SET value = '9' WHERE key = 'schema.events'"],
        ["DELETE FROM meta", "INSERT INTO meta VALUES ('schema_version', '9')"],  # one store, before the split
    ],
    ids=["events-store", "one-store-database"],
)
def test_newer_event_store_is_refused_by_the_same_rule(tmp_path: Path, statements: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    EventLog(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()
    with pytest.raises(SchemaError, match="schema 9 is newer than this StoreLens"):
        EventLog(url)


def test_head_office_creates_only_what_it_uses(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from storelens.hq.database import HqDatabase

    db = HqDatabase(f"sqlite:///{tmp_path / 'hq.sqlite'}")
    tables = set(inspect(db.engine).get_table_names())
    with db.engine.connect() as conn:
        versions = dict(conn.execute(text("SELECT key, value FROM meta")).all())
    db.close()
    assert tables == {"meta", "events", "acks", "verdicts", "events_quarantine", "tokens", "chain_members",
                      "chain_deliveries",
                      "chain_erasures", "chain_erasure_boxes", "chain_boxes", "chain_box_keys", "chain_box_reports",
                      "crm_outbox", "crm_reexport"}  # fmt: skip
    assert versions == {"schema.events": "4", "schema.tokens": "1", "schema.chain": "3", "schema.crm": "1"}


def test_a_chain_of_schema_1_gains_the_box_keys(tmp_path: Path) -> None:
    """Chain 1 -> 2: the boxes' receipt keys, a table of its own; 2 -> 3: members' hashes, the boxes' reports."""
    from sqlalchemy import inspect

    from storelens.hq.database import HqDatabase

    url = f"sqlite:///{tmp_path / 'hq.sqlite'}"
    HqDatabase(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:  # as chain schema 1 left it, with a member
        conn.execute(text("DROP TABLE chain_box_keys"))
        conn.execute(text("DROP TABLE chain_box_reports"))
        conn.execute(text("DROP INDEX ix_chain_members_member_ref"))
        conn.execute(text("ALTER TABLE chain_members DROP COLUMN member_ref"))
        conn.execute(
            text("INSERT INTO chain_members VALUES ('M-1', 1, 'chain', NULL, '[]', 'm', '[]', '{}', '{}', 't')")
        )
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema.chain'"))
    engine.dispose()
    db = HqDatabase(url)
    assert {"chain_box_keys", "chain_box_reports"} <= set(inspect(db.engine).get_table_names())
    assert db.members.member_id_of(member_hash("M-1")) == "M-1"  # a box's erasure report finds them
    assert db.members.register_box("paris-01", "A" * 43 + "=") and db.members.registered_keys() == {
        "paris-01": "A" * 43 + "="
    }
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM meta WHERE key = 'schema.chain'")).scalar() == "3"
    db.close()


def test_rows_an_older_ingest_stored_invalid_are_quarantined(tmp_path: Path) -> None:
    """Schema 2 -> 3: an arrival whose ts is not a time (stored by an older ingest) stops breaking readers."""
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    good = ArrivalEvent(store_id="s", camera_id="c", member_id="M-1", similarity=0.9, track_id=1)
    EventLog(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        for seq, ts, payload in ((1, good.ts, good.model_dump_json()),
                                 (2, "not-a-time", good.model_copy(update={"event_id": str(uuid.uuid4())})
                                  .model_dump_json().replace(good.ts, "not-a-time"))):  # fmt: skip
            conn.execute(text("INSERT INTO events (seq, event_id, type, store_id, camera_id, ts, payload, received_at) "
                              "VALUES (:seq, :id, 'vip_arrival', 's', 'c', :ts, :payload, :ts)"),
                         {"seq": seq, "id": f"id-{seq}", "ts": ts, "payload": payload})  # fmt: skip
        conn.execute(text("UPDATE meta SET value = '2' WHERE key = 'schema.events'"))
    engine.dispose()
    store = EventLog(url)
    assert [e.seq for e in store.since()] == [1]
    with store.engine.connect() as conn:
        moved = conn.execute(text("SELECT seq, reason FROM events_quarantine")).all()
    assert [(seq, "ts" in reason) for seq, reason in moved] == [(2, True)]
    store.close()


@pytest.mark.parametrize("change", [{"ts": "not-a-time"}, {"similarity": float("nan")}, {"event_id": "x"}])
def test_the_store_refuses_an_invalid_event(tmp_path: Path, change: dict) -> None:
    store = EventLog(f"sqlite:///{tmp_path / 'events.sqlite'}")
    bad = ArrivalEvent(store_id="s", camera_id="c", member_id="M-1", similarity=0.9, track_id=1).model_dump() | change
    with pytest.raises(DatabaseError, match="not a valid event"):
        store.add(bad)
    assert store.count() == 0
    store.close()


def test_event_store_v4_gains_the_commerce_tables_and_keeps_members(tmp_path: Path) -> None:
    import io

    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    store = StoreBooks(url)
    store.commerce.put_member("M-1", {"name": "Ada", "notes": "prefers French"})
    store.close()
    db = sqlite3.connect(tmp_path / "events.sqlite")  # make it what schema 4 wrote
    for table in ("products", "transactions", "transaction_lines", "member_insights"):
        db.execute(f"DROP TABLE {table}")
    for column in ("home_store", "crm_hash"):
        db.execute(f"ALTER TABLE members DROP COLUMN {column}")
    db.execute("DELETE FROM meta")  # one store of schema 4, before the stores were split
    db.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    db.commit()
    db.close()
    store = StoreBooks(url)
    member = store.commerce.member("M-1")
    assert member is not None and member["notes"] == "prefers French" and member["home_store"] is None
    report = store.commerce.import_file(
        "members", io.BytesIO(b"member_id,name,home_store\nM-1,Ada L.,paris-01\n"), "m.csv"
    )
    assert (report.imported, report.changed) == (True, 1)
    member = store.commerce.member("M-1")
    assert member is not None and (member["name"], member["notes"], member["home_store"]) == (
        "Ada L.", "prefers French", "paris-01")  # fmt: skip
    store.close()


def test_rollups_of_schema_1_gain_exits_and_passers_by(tmp_path: Path) -> None:
    """Rollups 1 -> 2: exits and passers-by columns (0 for what was rolled up before), then summed as they come."""
    from datetime import UTC, datetime, timedelta

    from storelens.books.event_log import EventLog
    from storelens.clock import iso
    from storelens.edge_events import FootfallEvent
    from storelens.hq.rollups import Rollups

    url = f"sqlite:///{tmp_path / 'hq.sqlite'}"
    log = EventLog(url)
    Rollups(log.engine)
    with log.engine.begin() as conn:  # as rollups schema 1 left them, with a bucket rolled up
        for table in ("rollup_footfall", "rollup_footfall_day"):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN exits"))
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN passers_by"))
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema.rollups'"))
    rollups = Rollups(log.engine)
    start = datetime(2026, 12, 1, 10, tzinfo=UTC)
    log.add_many([FootfallEvent(store_id="s", camera_id="door", interval_start=iso(start),
                                interval_end=iso(start + timedelta(minutes=15)), entries=5, unique_visitors=0,
                                vip_arrivals=0, exits=3, passers_by=7)])  # fmt: skip
    assert rollups.catch_up({"s": "UTC"}) == 1
    (row,) = rollups.rows({"s": (start, start + timedelta(days=1))}, (start, start + timedelta(days=1)), {"s": "UTC"},
                          "1d")  # fmt: skip
    assert (row.entries, row.exits, row.passers_by, row.capture_rate) == (5, 3, 7, round(5 / 12, 4))
    with log.engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM meta WHERE key = 'schema.rollups'")).scalar() == "2"
