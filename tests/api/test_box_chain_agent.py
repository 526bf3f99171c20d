"""Head office's member changes applied on a box: once, in version order, whatever the repetition; unsigned,
forged and hostile changes refused; and the registry at head office following the signed receipts (in-memory
broker, real gallery, databases and Ed25519 keys)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from storelens.api.books import StoreBooks
from storelens.api.box_chain_agent import BoxChainAgent
from storelens.api.services import Services
from storelens.books.event_log import EventLog
from storelens.chain_messages import (
    BoxReceipt,
    MemberChange,
    MemberReport,
    command_topic,
    encode_vectors,
    receipt_topic,
    report_topic,
)
from storelens.config import Config
from storelens.edge_events import ArrivalEvent
from storelens.gallery.factory import open_gallery
from storelens.hq.distributor import Distributor
from storelens.hq.keys import HqKeys
from storelens.hq.registry import ChainMembers
from storelens.hq.schema import chain_members, deliveries, erasures
from storelens.members import Consent, MemberInfo, member_hash
from storelens.signing import Keyring, SigningKey
from storelens.stage_messages import Embeddings
from tests.helpers.chain import SETS, SPEC, unit
from tests.helpers.transport import MemoryBroker, MemoryTransport


def box_config(tmp: Path, store_id: str, profile: str = "custom") -> Config:
    return Config.model_validate(
        {
            "store": {"id": store_id},
            "cameras": [{"id": "door", "source": "0"}],
            "gallery": {"dir": str(tmp / store_id / "gallery")},
            "api": {"database_url": f"sqlite:///{tmp / store_id / 'events.sqlite'}"},
            "privacy": {"profile": profile},
        }
    )


HQ_KEY = SigningKey.generate()  # head office's key, as the boxes of these tests trust it


def signed(change: MemberChange | str | bytes, key: SigningKey = HQ_KEY) -> bytes:
    """A change (or any payload) signed as head office signs its commands."""
    body = change.model_dump_json().encode() if isinstance(change, MemberChange) else change
    return key.sign("command", body.encode() if isinstance(body, str) else body)


def claiming_the_trusted_key() -> bytes:
    envelope = json.loads(signed(change(1), SigningKey.generate()))
    return json.dumps({**envelope, "key_id": HQ_KEY.key_id}).encode()


class Box:
    """A store box's chain agent on a memory broker, with a real gallery and event store."""

    def __init__(
        self, tmp: Path, broker: MemoryBroker, store_id: str, profile: str = "custom", trusts: list[str] | None = None
    ) -> None:
        (tmp / store_id).mkdir(parents=True, exist_ok=True)
        config = box_config(tmp, store_id, profile)
        self.store = StoreBooks(config.api.database_url)
        self.services = Services(config, self.store, gallery=lambda: open_gallery(config, SPEC))
        self.transport = MemoryTransport(broker, f"api-{store_id}", persistent_session=True)
        keyring = Keyring(trusts or [HQ_KEY.public], tmp / store_id / "hq-keys.json")
        self.agent = BoxChainAgent(self.services, self.transport, store_id, keyring, tmp / store_id / "box.key")
        self.receipts: list[BoxReceipt] = []
        self.transport.start()

    def held(self, member_id: str) -> np.ndarray:
        return self.services.gallery().templates.member_vectors(member_id)[1]

    def close(self) -> None:
        self.transport.stop()
        self.services.close()


@pytest.fixture
def box(tmp_path: Path):
    b = Box(tmp_path, MemoryBroker(), "store-a")
    yield b
    b.close()


def change(
    version: int, op: str = "upsert", store_id: str = "store-a", member_id: str = "M-1", **kw: Any
) -> MemberChange:
    if op == "erase":
        return MemberChange(store_id=store_id, member_id=member_id, version=version, op="erase", reason="request")
    fields: dict[str, Any] = {
        "store_id": store_id,
        "member_id": member_id,
        "version": version,
        "op": "upsert",
        "model": SPEC.name,
        "vectors": encode_vectors(SETS[version]),
        "member": MemberInfo(member_id=member_id, name="Ada"),
        "consent": Consent(reference="CF-1", notice_version="1", purpose="vip-recognition"),
    }
    return MemberChange.model_validate({**fields, **kw})


@pytest.mark.parametrize(
    ("steps", "outcomes", "held_version"),
    [
        ([(1, "upsert")], ["applied"], 1),
        ([(1, "upsert"), (1, "upsert")], ["applied", "already"], 1),
        ([(2, "upsert"), (1, "upsert")], ["applied", "already"], 2),  # out of order: the older one is ignored
        ([(1, "upsert"), (2, "upsert")], ["applied", "applied"], 2),  # a newer set replaces the vectors
        ([(3, "erase"), (2, "upsert")], ["applied", "already"], None),  # an erasure outlives a late upsert
        ([(1, "upsert"), (2, "erase"), (2, "erase")], ["applied", "applied", "already"], None),
        ([(1, "upsert"), (2, "erase"), (4, "upsert")], ["applied", "applied", "applied"], 4),  # enrolled again
    ],
)
def test_changes_apply_once_in_version_order(box: Box, steps, outcomes, held_version) -> None:
    got = [box.agent.apply(change(v, op)).outcome for v, op in steps]
    assert got == outcomes
    held = box.held("M-1")
    if held_version is None:
        assert len(held) == 0 and box.services.gallery().templates.member("M-1") is None
    else:
        np.testing.assert_allclose(held, SETS[held_version], atol=1e-6)
        assert len(box.services.gallery()) == len(SETS[held_version])  # the index holds exactly this set


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (change(1, model="scrfd_dlib_resnet").model_dump_json(), "recognises with"),
        (change(1, vectors=encode_vectors(unit(1)[:, :64])).model_dump_json(), "values, the recogniser makes"),
        (change(1, vectors=encode_vectors(2 * unit(1))).model_dump_json(), "not a finite unit vector"),
        (change(1).model_dump_json().replace(encode_vectors(SETS[1])[0], "not base64!"), "not base64"),
        (change(1, consent=Consent(reference="CF-1", notice_version="1", purpose="p", profile="eu")).model_dump_json(),
         "privacy profile eu"),
    ],
)  # fmt: skip
def test_a_change_the_box_cannot_hold_is_refused_with_the_reason(box: Box, payload: str, why: str) -> None:
    seen: list[bytes] = []
    hq = MemoryTransport(box.transport.broker, "hq")
    hq.subscribe(receipt_topic(), lambda t, p: seen.append(p))
    hq.start()
    hq.publish(command_topic("store-a"), signed(payload))
    assert box.agent.flush() == 1
    body = Keyring([box.agent.signer().public]).verify("receipt", seen[0], "2026-01-01T00:00:00.000Z")
    receipt = BoxReceipt.model_validate_json(body)
    assert receipt.outcome == "refused" and why in receipt.detail
    assert receipt.held_vectors == 0 and len(box.services.gallery()) == 0
    assert "M-1" not in seen[0].decode()  # a receipt names the member only by hash


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (signed(b"{not json"), "payload"),
        (signed(json.dumps({"v": 1, "store_id": "store-a", "member_id": "M-1", "version": 1, "op": "x"})), "payload"),
        (signed(change(1, store_id="store-b")), "store"),  # addressed to another store
        (signed(change(1).model_dump_json().replace("}", ', "x": 1}', 1)), "payload"),
        (signed(change(1).model_dump_json().replace('"version":1', f'"version":{2**62}')), "payload"),  # inflated
        (b"{" + b" " * (600 * 1024) + b"}", "signature"),  # oversize
        (change(1).model_dump_json().encode(), "signature"),  # unsigned: the bare change, as anyone could publish it
        (signed(change(1), SigningKey.generate()), "signature"),  # signed by a key the box does not trust
        (signed(change(1)).replace(b"M-1", b"M-2", 1), "signature"),  # altered after signing
        (signed(change(1)).replace(b'"key_id":"', b'"key_id":"0', 1)[:-1], "signature"),  # a broken envelope
        (claiming_the_trusted_key(), "signature"),  # another key's signature under the trusted key's id
        (HQ_KEY.sign("receipt", change(1).model_dump_json().encode()), "signature"),  # signed for another purpose
    ],
)  # fmt: skip
def test_a_hostile_message_changes_nothing_and_gets_no_receipt(box: Box, payload: bytes, reason: str) -> None:
    seen: list[bytes] = []
    hq = MemoryTransport(box.transport.broker, "hq")
    hq.subscribe(receipt_topic(), lambda t, p: seen.append(p))
    hq.start()
    hq.publish(command_topic("store-a"), payload)
    assert box.agent.flush() == 0
    assert seen == [] and box.agent.refused_messages == 1 and len(box.services.gallery()) == 0
    assert f'storelens_chain_messages_refused_total{{reason="{reason}"}} 1.0' in box.services.metrics.text().decode()


def test_an_erasure_from_head_office_also_clears_the_event_store(box: Box) -> None:
    box.agent.apply(change(1))
    box.store.events.add(
        ArrivalEvent(store_id="store-a", camera_id="door", member_id="M-1", similarity=0.9, track_id=3).model_dump()
    )
    box.store.commerce.put_member("M-1", {"name": "Ada"})
    receipt = box.agent.apply(change(2, "erase"))
    assert receipt.outcome == "applied" and receipt.held_vectors == 0
    assert (
        receipt.removed["vectors"] == 2 and receipt.removed["arrival_events"] == 1 and receipt.removed["profile"] == 1
    )
    assert box.store.commerce.member("M-1") is None and box.store.events.count("vip_arrival") == 0


def test_head_office_follows_the_receipts_until_every_box_confirmed(tmp_path: Path) -> None:
    _, _, boxes, registry, distributor = hq_with_boxes(tmp_path, ("store-a", "store-b", "store-c"))
    consent = Consent(reference="CF-9", notice_version="1", purpose="vip-recognition")
    known = sorted(boxes)

    registry.enrol(
        MemberInfo(member_id="M-9"), consent, SPEC.name, SETS[1], "stores", None, ["store-a", "store-b"], known
    )
    registry.enrol(MemberInfo(member_id="M-8"), consent, SPEC.name, SETS[2], "home", "store-c", [], known)
    boxes["store-b"].transport.stop()  # store-b is away

    def send() -> int:
        sent = distributor.send_due()
        for b in boxes.values():
            b.agent.flush()
        distributor.record_receipts()
        return sent

    assert send() == 3
    assert send() == 0  # nothing due again before chase_seconds
    states = {m["member_id"]: {s: d["state"] for s, d in m["stores"].items()} for m in registry.members()}
    assert states == {"M-9": {"store-a": "confirmed", "store-b": "pending"}, "M-8": {"store-c": "confirmed"}}
    boxes["store-b"].transport.start()  # back: its persistent session held the change
    boxes["store-b"].agent.flush()
    distributor.record_receipts()
    assert {s: d["state"] for s, d in registry.members()[1]["stores"].items()} == {
        "store-a": "confirmed",
        "store-b": "confirmed",
    }
    assert [len(boxes[s].held("M-9")) for s in known] == [2, 2, 0]

    # scope narrowed to store-a: store-b gets an erasure
    registry.enrol(MemberInfo(member_id="M-9"), consent, SPEC.name, SETS[1], "home", "store-a", [], known)
    send()
    assert [len(boxes[s].held("M-9")) for s in known] == [2, 0, 0]

    boxes["store-a"].transport.stop()
    erasure_id, pending = registry.erase("M-9", "erasure request") or ("", [])
    assert pending == ["store-a", "store-b"]  # every box that ever held them
    send()
    [row] = registry.erasures("M-9")
    assert list(row["confirmed"]) == ["store-b"] and [p["store_id"] for p in row["pending"]] == ["store-a"]
    boxes["store-a"].transport.start()
    boxes["store-a"].agent.flush()
    distributor.record_receipts()
    [row] = registry.erasures("M-9")
    assert row["completed_at"] and not row["pending"] and row["confirmed"]["store-a"]["removed"]["vectors"] == 2
    assert [len(boxes[s].held("M-9")) for s in known] == [0, 0, 0]
    with registry.engine.connect() as conn:
        for table in (chain_members, deliveries, erasures):
            assert "M-9" not in json.dumps([list(r) for r in conn.execute(select(table))], default=str)
    assert erasure_id == row["erasure_id"]
    for b in boxes.values():
        b.close()


def test_a_batch_applies_in_order_in_one_transaction(box: Box) -> None:
    vectors = {f"M-{i}": unit(2) for i in range(40)}  # beyond the bulk threshold: the index is rebuilt once
    changes = [change(1, member_id=m, vectors=encode_vectors(v)) for m, v in vectors.items()]
    changes += [change(2, "erase", member_id="M-3"), change(1, member_id="M-3")]  # erased, then a late upsert
    receipts = box.agent.apply_all(changes)
    assert [r.outcome for r in receipts] == ["applied"] * 41 + ["already"]
    gallery = box.services.gallery()
    assert len(gallery) == 2 * 39 and box.held("M-3").size == 0
    assert gallery.generation == gallery.templates.generation()  # the in-memory index is the database's
    probe = np.stack([v[0] for m, v in vectors.items() if m != "M-3"])
    found = gallery.match(Embeddings(probe, gallery.model)).member_ids
    assert list(found) == [m for m in vectors if m != "M-3"]


def test_a_repeated_delivery_keeps_the_first_receipt_as_the_proof(box: Box, tmp_path: Path) -> None:
    registry = ChainMembers(EventLog(f"sqlite:///{tmp_path / 'hq.sqlite'}").engine)
    consent = Consent(reference="CF-1", notice_version="1", purpose="vip-recognition")
    registry.enrol(MemberInfo(member_id="M-1"), consent, SPEC.name, SETS[1], "home", "store-a", [], ["store-a"])
    [out] = registry.due(chase_seconds=0)
    assert registry.receipt(box.agent.apply(out.change)) and registry.receipt(box.agent.apply(out.change))
    assert registry.members()[0]["stores"]["store-a"]["held_vectors"] == 2
    registry.erase("M-1", "request")
    [erase] = registry.due(chase_seconds=0)
    first, again = box.agent.apply(erase.change), box.agent.apply(erase.change)  # the brokers delivered it twice
    assert (first.outcome, again.outcome) == ("applied", "already")
    registry.receipt(first)
    registry.receipt(again)
    [row] = registry.erasures("M-1")
    assert (
        row["confirmed"]["store-a"]["removed"]["vectors"] == 2
        and row["confirmed"]["store-a"]["receipt_id"] == first.receipt_id
    )


def hq_with_boxes(
    tmp_path: Path, stores: tuple[str, ...]
) -> tuple[MemoryBroker, HqKeys, dict[str, Box], ChainMembers, Distributor]:
    broker = MemoryBroker()
    keys = HqKeys(tmp_path / "hq-keys.json")
    boxes = {s: Box(tmp_path, broker, s, trusts=[keys.current.public]) for s in stores}
    registry = ChainMembers(EventLog(f"sqlite:///{tmp_path / 'hq.sqlite'}").engine)
    for store_id, b in boxes.items():
        registry.register_box(store_id, b.agent.signer().public)
    hq = MemoryTransport(broker, "hq", persistent_session=True)
    distributor = Distributor(registry, hq, chase_seconds=3600, keys=keys)
    hq.subscribe(receipt_topic(), distributor.on_receipt)
    hq.start()
    return broker, keys, boxes, registry, distributor


def states(registry: ChainMembers) -> dict[str, dict[str, str]]:
    return {m["member_id"]: {s: d["state"] for s, d in m["stores"].items()} for m in registry.members()}


def test_a_forged_receipt_confirms_nothing(tmp_path: Path) -> None:
    broker, _, boxes, registry, distributor = hq_with_boxes(tmp_path, ("store-a",))
    consent = Consent(reference="CF-1", notice_version="1", purpose="vip-recognition")
    registry.enrol(MemberInfo(member_id="M-1"), consent, SPEC.name, SETS[1], "home", "store-a", [], ["store-a"])
    boxes["store-a"].transport.stop()  # the box is away: only a forger answers
    [out] = registry.due(chase_seconds=0)
    lie = BoxReceipt(store_id="store-a", change_id=out.change.change_id, member_ref="0" * 64, version=1,
                     op="upsert", outcome="applied", held_vectors=2)  # fmt: skip
    forger = MemoryTransport(broker, "anyone")
    forger.start()
    forger.publish(receipt_topic("store-a"), lie.model_dump_json().encode())  # unsigned
    forger.publish(receipt_topic("store-a"), SigningKey.generate().sign("receipt", lie.model_dump_json().encode()))
    forger.publish(receipt_topic("store-a"), HQ_KEY.sign("command", lie.model_dump_json().encode()))
    assert distributor.record_receipts() == 0 and distributor.box_keys.refused == 3
    assert states(registry) == {"M-1": {"store-a": "pending"}}
    boxes["store-a"].close()


def test_already_with_nothing_held_does_not_confirm_an_upsert(tmp_path: Path) -> None:
    _, _, boxes, registry, _ = hq_with_boxes(tmp_path, ("store-a",))
    consent = Consent(reference="CF-1", notice_version="1", purpose="vip-recognition")
    registry.enrol(MemberInfo(member_id="M-1"), consent, SPEC.name, SETS[1], "home", "store-a", [], ["store-a"])
    [out] = registry.due(chase_seconds=0)
    box = boxes["store-a"]
    box.services.gallery().note_chain_version("M-1", 5, "erase")  # the box holds a newer erasure of the member
    receipt = box.agent.apply(out.change)
    assert (receipt.outcome, receipt.held_vectors) == ("already", 0)
    assert not registry.receipt(receipt.model_copy(update={"version": 7}))  # reports a change head office did not send
    assert states(registry) == {"M-1": {"store-a": "pending"}}
    assert registry.receipt(receipt)
    [member] = registry.members()
    assert (
        member["stores"]["store-a"]["state"] == "refused" and "holds no vector" in member["stores"]["store-a"]["detail"]
    )
    box.close()


def test_a_key_rotation_keeps_every_box_in_step(tmp_path: Path) -> None:
    _, keys, boxes, registry, distributor = hq_with_boxes(tmp_path, ("store-a", "store-b"))
    consent = Consent(reference="CF-1", notice_version="1", purpose="vip-recognition")
    known = sorted(boxes)
    old = keys.current
    boxes["store-b"].transport.stop()  # away during both rotations
    keys.rotate(timedelta(days=1))
    registry.enrol(MemberInfo(member_id="M-1"), consent, SPEC.name, SETS[1], "chain", None, [], known)
    distributor.send_due()
    boxes["store-a"].agent.flush()
    keys.rotate(timedelta(days=1))
    registry.enrol(MemberInfo(member_id="M-2"), consent, SPEC.name, SETS[2], "chain", None, [], known)
    distributor.send_due()
    boxes["store-b"].transport.start()
    for b in boxes.values():
        b.agent.flush()
    distributor.record_receipts()
    assert states(registry) == {m: {"store-a": "confirmed", "store-b": "confirmed"} for m in ("M-1", "M-2")}
    for b in boxes.values():
        assert keys.current.key_id in b.agent.keyring.keys and b.agent.keyring.keys[old.key_id].until
        assert b.agent.refused_messages == 0
        b.close()


def test_a_box_report_is_acted_on_once_and_a_forged_one_not_at_all(tmp_path: Path) -> None:
    """Store-a's erasure report erases the member chain-wide once, however often it comes; reports signed by
    another key, by store-b's box for store-a, or unsigned change nothing."""
    broker, _, boxes, registry, distributor = hq_with_boxes(tmp_path, ("store-a", "store-b"))
    hq = MemoryTransport(broker, "hq-reports", persistent_session=True)
    hq.subscribe(report_topic(), distributor.on_report)
    hq.start()
    consent = Consent(reference="CF-1", notice_version="1", purpose="vip-recognition")
    registry.enrol(MemberInfo(member_id="M-1"), consent, SPEC.name, SETS[1], "chain", None, [], ["store-a", "store-b"])
    distributor.send_due()
    for b in boxes.values():
        b.agent.flush()
    distributor.record_receipts()
    assert states(registry) == {"M-1": {"store-a": "confirmed", "store-b": "confirmed"}}

    report = MemberReport(store_id="store-a", member_ref=member_hash("M-1"), op="erased", reason="asked")
    body = report.model_dump_json().encode()
    forger = MemoryTransport(broker, "anyone")
    forger.start()
    forger.publish(report_topic("store-a"), body)  # unsigned
    forger.publish(report_topic("store-a"), SigningKey.generate().sign("report", body))  # an unknown key
    forger.publish(report_topic("store-a"), boxes["store-b"].agent.signer().sign("report", body))  # another box
    forger.publish(report_topic("store-a"), boxes["store-a"].agent.signer().sign("receipt", body))  # as a receipt
    assert distributor.act_on_reports() == 0 and distributor.box_keys.refused == 4
    assert registry.erasures() == [] and states(registry) == {"M-1": {"store-a": "confirmed", "store-b": "confirmed"}}

    signed_report = boxes["store-a"].agent.signer().sign("report", body)
    for _ in range(3):  # sent again by the box until noted: acted on once
        forger.publish(report_topic("store-a"), signed_report)
    assert distributor.act_on_reports() == 3
    [erasure] = registry.erasures()
    assert sorted(p["store_id"] for p in erasure["pending"]) == ["store-a", "store-b"] and states(registry) == {}
    for b in boxes.values():
        b.close()
