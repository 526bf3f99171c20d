"""Visits to the chain's member platform: a signed webhook against a real HTTP receiver that fails, times out and
answers twice; nothing lost across a restart; an erasure reaches what was sent; the daily export."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine

from storelens.chain_messages import VisitRecord
from storelens.clock import iso, utc_now
from storelens.hq.crm import CrmOutbox, CrmWebhook, signature
from storelens.hq.registry import ChainMembers
from storelens.members import Consent, MemberInfo
from tests.helpers.chain import wait_until
from tests.helpers.webhook import Receiver

SECRET = b"k" * 40


def visit(member_id: str, minutes_ago: float, store_id: str = "paris-01") -> VisitRecord:
    return VisitRecord(
        visit_id=str(uuid.uuid4()), store_id=store_id, camera_id="door", member_id=member_id,
        arrived_at=iso(utc_now() - timedelta(minutes=minutes_ago)), window_minutes=60, served_by="Alice",
        served_at=iso(utc_now() - timedelta(minutes=minutes_ago - 1)), bought=True, spent_minor=12_990,
        currency="EUR",
    )  # fmt: skip


def webhook(outbox: CrmOutbox, url: str, export_dir: Path | None = None) -> CrmWebhook:
    return CrmWebhook(outbox, url, SECRET, timeout=0.5, backoff=0.2, export_dir=export_dir, retention_days=30)


def rows(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return json.dumps(db.execute("SELECT * FROM crm_outbox").fetchall())
    finally:
        db.close()


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_body() -> None:
    import hashlib
    import hmac

    assert (
        signature(b"secret", "1700000000", b'{"a":1}')
        == "sha256=" + hmac.new(b"secret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    )


def test_every_visit_arrives_once_at_least_signed_through_failures_timeouts_and_a_restart(tmp_path: Path) -> None:
    outbox = CrmOutbox(create_engine(f"sqlite:///{tmp_path / 'hq.sqlite'}"))
    # 500, then a delivery kept but answered after the sender's timeout (it comes again: answered twice)
    receiver = Receiver(SECRET, ["fail", "slow"], delay=1.5).start()
    visits = [visit(f"M-{i}", 30 + i) for i in range(5)]
    try:
        assert [outbox.add_visit(v) for v in visits] == [True] * 5
        assert outbox.add_visit(visits[0]) is False  # a box's redelivery: kept once
        first = webhook(outbox, receiver.url)
        first.start()
        assert wait_until(lambda: receiver.requests >= 2, 20)
        first.stop()  # head office restarts while deliveries are failing
        assert outbox.pending() >= 4
        second = webhook(outbox, receiver.url)
        second.start()
        try:
            assert wait_until(lambda: outbox.pending() == 0, 30), outbox.pending()
        finally:
            second.stop()
        got = receiver.deliveries()
        assert sorted(got) == sorted(v.visit_id for v in visits)  # every visit, under its own id
        assert max(len(bodies) for bodies in got.values()) == 2  # the timed-out one came twice, the same
        assert all(len({json.dumps(b, sort_keys=True) for b in bodies}) == 1 for bodies in got.values())
        assert all(valid for *_, valid in receiver.received)
        assert {b[0]["member_id"]: b[0]["bought"] for b in got.values()} == {f"M-{i}": True for i in range(5)}
    finally:
        receiver.stop()


def test_an_erasure_reaches_what_was_sent_and_leaves_nothing(tmp_path: Path) -> None:
    db = tmp_path / "hq.sqlite"
    members = ChainMembers(create_engine(f"sqlite:///{db}"))
    outbox = CrmOutbox(members.engine)
    consent = Consent(reference="CF-1", notice_version="1", purpose="vip", share_visits=True)
    vec = np.eye(1, 128, dtype=np.float32)
    for mid in ("M-gone", "M-kept"):
        members.enrol(MemberInfo(member_id=mid), consent, "sface", vec, "home", "paris-01", [], [])
    yesterday = (utc_now() - timedelta(days=1)).replace(hour=12)
    minutes = (utc_now() - yesterday).total_seconds() / 60
    sent, kept = visit("M-gone", minutes), visit("M-kept", minutes)
    receiver = Receiver(SECRET).start()
    exports = tmp_path / "exports"
    hook = webhook(outbox, receiver.url, exports)
    try:
        outbox.add_visit(sent)
        outbox.add_visit(kept)
        hook.tick()
        assert sorted(receiver.deliveries()) == sorted([sent.visit_id, kept.visit_id])
        day_file = exports / f"visits-{yesterday:%Y-%m-%d}.jsonl"
        assert {json.loads(line)["member_id"] for line in day_file.read_text().splitlines()} == {"M-gone", "M-kept"}

        later = visit("M-gone", minutes + 5)  # a box's late copy of an older visit
        erasure_id, _ = members.erase("M-gone", "asked at store paris-01") or ("", [])
        assert outbox.add_visit(later, members.erased_at("M-gone")) is False  # arrived before the erasure: not kept
        hook.tick()
        [(_, key, body, valid)] = [r for r in receiver.received if r[0] == "erasure"]
        assert (key, body["member_id"], body["erasure_id"], valid) == (erasure_id, "M-gone", erasure_id, True)
        assert "M-gone" not in rows(db)  # the notice, once acknowledged, is gone too
        assert {json.loads(line)["member_id"] for line in day_file.read_text().splitlines()} == {"M-kept"}
        assert outbox.pending() == 0
        assert outbox.add_visit(visit("M-gone", -1), members.erased_at("M-gone")) is True  # back, and visits again
    finally:
        receiver.stop()


def test_three_workers_post_each_visit_once_and_the_console_sees_what_waits(postgres) -> None:
    """Three head-office workers share one outbox on PostgreSQL: every visit is POSTed exactly once (the receiver
    counts), and what failed is visible (waiting, retried, the last error) until it is delivered."""
    url = postgres.database(f"crm_{uuid.uuid4().hex[:8]}")
    outboxes = [CrmOutbox(create_engine(url)) for _ in range(3)]
    receiver = Receiver(SECRET, ["fail"] + ["slow"] * 60, delay=0.05).start()  # each answer takes 50 ms
    workers = [webhook(o, receiver.url) for o in outboxes]
    visits = [visit(f"M-{i}", 60 - i) for i in range(60)]
    try:
        assert all(outboxes[i % 3].add_visit(v) for i, v in enumerate(visits))
        assert workers[0].deliver() == 0  # the platform answers 500: the round stops, the failure is shown
        shown = outboxes[1].state()
        assert (shown["pending"], shown["retrying"], shown["attempts"], shown["last_error"]) == (60, 1, 1, "HTTP 500")
        for w in workers:
            w.start()
        assert wait_until(lambda: len(receiver.deliveries()) == 60, 30), len(receiver.deliveries())
        time.sleep(1)  # and nothing more comes
        assert sorted(receiver.deliveries()) == sorted(v.visit_id for v in visits)
        assert all(len(bodies) == 1 for bodies in receiver.deliveries().values())
        assert receiver.requests == 61  # the failed one, then each visit once
        assert sum(w.delivered for w in workers) == 60 and all(w.delivered > 0 for w in workers)  # all three sent
        assert outboxes[2].state() == {"pending": 0, "retrying": 0, "delivered": 60, "attempts": 0, "last_error": ""}
    finally:
        for w in workers:
            w.stop()
        receiver.stop()
        for o in outboxes:
            o.engine.dispose()
