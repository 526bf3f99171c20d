"""Head office's members: who is enrolled chain-wide, which boxes their consent covers, and erasures with proof.

The database is the queue. Enrolment and erasure (``storelens hq enroll | erase``, any process) write the
wanted state: one *delivery* per member and store (the version that store should hold, pending until its
receipt), one *erasure* per erased member with one row per box that ever held them. ``hq serve`` sends what
is pending and sends it again every ``chase_seconds`` until the box's receipt arrives, however long the box
was away. An erasure keeps the member id only until every box has confirmed; from then on head office
knows the erased member only by :func:`storelens.members.member_hash`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    Engine,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from storelens.books.database import Part, open_part
from storelens.books.schema import events
from storelens.chain_messages import BoxReceipt, MemberChange, Scope, decode_vectors, encode_vectors
from storelens.clock import iso, utc_now
from storelens.edge_events import StatusEvent
from storelens.errors import StoreLensError
from storelens.hq.crm import CRM, erase_visits
from storelens.hq.schema import (
    box_keys,
    box_reports,
    boxes,
    chain_members,
    chain_tables,
    deliveries,
    erasure_boxes,
    erasures,
)
from storelens.members import Consent, MemberInfo, member_hash


@dataclass(frozen=True)
class Outgoing:
    """A change to send now: its topic's store and the change."""

    store_id: str
    change: MemberChange


def targets(scope: Scope, home_store: str | None, listed: list[str], known: list[str]) -> list[str]:
    """The stores a member's consent covers: home store, listed stores, or every store of the chain."""
    if scope == "home":
        return [home_store] if home_store else []
    if scope == "stores":
        return sorted(set(listed))
    return sorted(set(known))


def judge(receipt: BoxReceipt, op: str, version: int) -> tuple[str | None, str]:
    """What a verified receipt proves of the change head office sent: (state, detail); state None: not this change.

    A delivery is confirmed only by a receipt that reports what was asked: the same version and operation, and
    for an upsert vectors held, for an erasure none ("already" with nothing held confirms no upsert).
    """
    if receipt.version != version or receipt.op != op:
        return None, ""
    if receipt.outcome == "refused":
        return "refused", receipt.detail
    if op == "upsert" and receipt.held_vectors == 0:
        return "refused", f"the box answered {receipt.outcome} but holds no vector of the member"
    if op == "erase" and receipt.held_vectors:
        return "refused", f"the box answered {receipt.outcome} but still holds {receipt.held_vectors} vector(s)"
    return "confirmed", receipt.detail


def _add_member_ref(conn: Any) -> None:
    """Chain schema 2 -> 3: members' hashes (a box reports an erasure by it), and the boxes' reports (create_all)."""
    conn.execute(text("ALTER TABLE chain_members ADD COLUMN member_ref VARCHAR(64)"))
    for (member_id,) in conn.execute(select(chain_members.c.member_id)).all():
        conn.execute(
            chain_members.update()
            .where(chain_members.c.member_id == member_id)
            .values(member_ref=member_hash(member_id))
        )
    conn.execute(text("CREATE INDEX ix_chain_members_member_ref ON chain_members (member_ref)"))


CLAIM_SECONDS = 60  # a box's report claimed by a worker that did not finish is taken over after this long

# members, deliveries, erasures, boxes; 2: the boxes' receipt keys (a new table, made by create_all); 3: members'
# hashes and the boxes' reports
CHAIN = Part("chain", chain_tables, version=3, steps={1: lambda conn: None, 2: _add_member_ref})


class ChainMembers:
    """The chain's member registry and erasure tracker, on head office's database.

    Args:
        engine: head office's database (the one ``hq serve`` stores events in).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        open_part(engine, CHAIN)
        open_part(engine, CRM)  # an erasure also reaches the visits sent to the member platform

    def _next_version(self, conn: Any) -> int:
        top = max(
            conn.execute(select(func.max(chain_members.c.version))).scalar() or 0,
            conn.execute(select(func.max(erasures.c.version))).scalar() or 0,
        )
        return int(top) + 1

    def enrol(
        self,
        member: MemberInfo,
        consent: Consent,
        model: str,
        vectors: NDArray[np.float32],
        scope: Scope,
        home_store: str | None,
        listed: list[str],
        known: list[str],
        source: str | None = None,
    ) -> tuple[int, list[str]]:
        """Record (or replace) a member and queue a change for every store their consent covers.

        Stores that held an earlier version but are no longer covered get an erasure of the member.

        Args:
            member: who.
            consent: the consent, with where the member may be recognised.
            model: the recogniser that made ``vectors``.
            vectors: (K, D) float32, L2-normalised.
            scope: home, stores or chain.
            home_store: the member's home store (required for scope home).
            listed: the stores of scope ``stores``.
            known: every store of the chain (scope chain).
            source: the store whose box enrolled the member and reported it: it holds them already (its delivery
                is confirmed, nothing is sent to it).

        Returns:
            The new version and the stores it goes to.

        Raises:
            StoreLensError: the scope names no store.
        """
        wanted = targets(scope, home_store, listed, known)
        if not wanted:
            raise StoreLensError(f"scope {scope}: no store to recognise {member.member_id} in (--home-store/--stores)")
        now = iso(utc_now())
        row = {
            "member_id": member.member_id,
            "member_ref": member_hash(member.member_id),
            "scope": scope,
            "home_store": home_store,
            "stores": json.dumps(sorted(set(listed))),
            "model": model,
            "vectors": json.dumps(encode_vectors(vectors)),
            "member": member.model_dump_json(),
            "consent": consent.model_dump_json(),
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            version = self._next_version(conn)
            found = conn.execute(select(chain_members.c.member_id).where(chain_members.c.member_id == member.member_id))
            if found.first():
                conn.execute(
                    chain_members.update()
                    .where(chain_members.c.member_id == member.member_id)
                    .values(version=version, **row)
                )
            else:
                conn.execute(chain_members.insert().values(version=version, **row))
            held = {
                r.store_id
                for r in conn.execute(select(deliveries.c.store_id).where(deliveries.c.member_id == member.member_id))
            }
            for store in sorted(held | set(wanted)):
                values = {
                    "version": version,
                    "op": "upsert" if store in wanted else "erase",
                    "change_id": str(uuid.uuid4()),
                    "state": "pending",
                    "attempts": 0,
                    "sent_at": None,
                    "confirmed_at": None,
                    "detail": "",
                }
                if store == source and store in wanted:  # enrolled there: nothing to send
                    values.update(state="confirmed", confirmed_at=now, held_vectors=len(vectors),
                                  detail="enrolled at this store")  # fmt: skip
                if store in held:
                    conn.execute(
                        deliveries.update()
                        .where(deliveries.c.member_id == member.member_id, deliveries.c.store_id == store)
                        .values(**values)
                    )
                else:
                    conn.execute(deliveries.insert().values(member_id=member.member_id, store_id=store, **values))
        return version, wanted

    def erase(self, member_id: str, reason: str) -> tuple[str, list[str]] | None:
        """Forget a member at head office and queue the erasure for every box that ever held them.

        Returns:
            The erasure id and the boxes that must confirm, or None when head office knew nothing of them.
        """
        now = iso(utc_now())
        erasure_id = f"erasure-{uuid.uuid4().hex[:16]}"
        with self.engine.begin() as conn:
            boxes = sorted(
                {
                    r.store_id
                    for r in conn.execute(select(deliveries.c.store_id).where(deliveries.c.member_id == member_id))
                }
            )
            known = conn.execute(select(chain_members.c.version).where(chain_members.c.member_id == member_id)).first()
            delivered = erase_visits(conn, member_id, erasure_id)
            if known is None and not boxes and not delivered:
                return None
            version = self._next_version(conn)
            conn.execute(
                erasures.insert().values(
                    erasure_id=erasure_id,
                    member_ref=member_hash(member_id),
                    member_id=member_id if boxes else None,
                    version=version,
                    reason=reason,
                    requested_at=now,
                    completed_at=None if boxes else now,
                )
            )
            for store in boxes:
                conn.execute(
                    erasure_boxes.insert().values(
                        erasure_id=erasure_id, store_id=store, change_id=str(uuid.uuid4()), state="pending", attempts=0
                    )
                )
            conn.execute(deliveries.delete().where(deliveries.c.member_id == member_id))
            conn.execute(chain_members.delete().where(chain_members.c.member_id == member_id))
        return erasure_id, boxes

    def member_id_of(self, member_ref: str) -> str | None:
        """The id of the member whose hash is ``member_ref`` (None: head office holds no such member)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(chain_members.c.member_id).where(chain_members.c.member_ref == member_ref))
            return found.scalar()

    def erased_at(self, member_id: str) -> str | None:
        """When the member was last erased here (None: never), whatever the id's later fate."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(func.max(erasures.c.requested_at)).where(erasures.c.member_ref == member_hash(member_id))
            ).scalar()
        return None if found is None else str(found)

    def vectors_of(self, member_id: str, model: str) -> NDArray[np.float32] | None:
        """The (K, D) vectors head office holds for a member of ``model`` (None: none held, or another model's)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(chain_members.c.vectors, chain_members.c.model).where(chain_members.c.member_id == member_id)
            ).first()
        if found is None or found.model != model:
            return None
        return decode_vectors(tuple(json.loads(found.vectors)))

    def consent_of(self, member_id: str) -> Consent | None:
        """The consent head office holds for a member (None: not enrolled here)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(chain_members.c.consent).where(chain_members.c.member_id == member_id)).scalar()
        return None if found is None else Consent.model_validate_json(found)

    def noted(self, report_id: str) -> str | None:
        """What was done with a box's report already (None: not seen yet)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(box_reports.c.outcome).where(box_reports.c.report_id == report_id)).scalar()
        return None if found is None else str(found)

    def claim(self, report_id: str, store_id: str, op: str) -> bool:
        """Take a box's report to act on; False when it was taken (by this or another head-office worker).

        Every worker hears every report and one acts. A claim left unfinished for ``CLAIM_SECONDS`` (its worker
        died) is taken over when the box sends the report again.
        """
        now = utc_now()
        try:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    select(box_reports.c.outcome, box_reports.c.at).where(box_reports.c.report_id == report_id)
                ).first()
                if taken is not None:
                    if taken.outcome or taken.at > iso(now - timedelta(seconds=CLAIM_SECONDS)):
                        return False
                    done = conn.execute(
                        box_reports.update()
                        .where(box_reports.c.report_id == report_id, box_reports.c.at == taken.at)
                        .values(at=iso(now))
                    )
                    return bool(done.rowcount)
                conn.execute(box_reports.insert().values(report_id=report_id, store_id=store_id, op=op,
                                                         outcome="", at=iso(now)))  # fmt: skip
        except IntegrityError:  # another worker inserted it first
            return False
        return True

    def note(self, report_id: str, outcome: str) -> None:
        """Record what was done with a claimed report (its answer to a repeat)."""
        with self.engine.begin() as conn:
            conn.execute(box_reports.update().where(box_reports.c.report_id == report_id).values(outcome=outcome[:300]))

    def purged(self, member_id: str, store_id: str, reason: str) -> bool:
        """A box's retention purge removed a member: its delivery says so (and is not sent again); False: unknown."""
        with self.engine.begin() as conn:
            done = conn.execute(
                deliveries.update()
                .where(deliveries.c.member_id == member_id, deliveries.c.store_id == store_id)
                .values(state="purged", confirmed_at=iso(utc_now()), held_vectors=0, detail=reason[:300])
            )
            return bool(done.rowcount)

    def due(self, chase_seconds: float, limit: int = 500) -> list[Outgoing]:
        """Changes to send now: never sent, or sent more than ``chase_seconds`` ago without a receipt.

        Marks them sent (the caller publishes them).
        """
        now = utc_now()
        before = iso(now - timedelta(seconds=chase_seconds))
        out: list[Outgoing] = []
        with self.engine.begin() as conn:
            stale = or_(deliveries.c.sent_at.is_(None), deliveries.c.sent_at < before)
            rows = conn.execute(
                select(
                    deliveries.c.id,
                    deliveries.c.change_id,
                    deliveries.c.store_id,
                    deliveries.c.member_id,
                    deliveries.c.version,
                    deliveries.c.op,
                    chain_members.c.model,
                    chain_members.c.vectors,
                    chain_members.c.member,
                    chain_members.c.consent,
                )
                .join(chain_members, chain_members.c.member_id == deliveries.c.member_id)
                .where(deliveries.c.state == "pending", stale)
                .limit(limit)
            ).mappings()
            sent: list[int] = []
            for r in rows:
                common = {"change_id": r["change_id"], "store_id": r["store_id"], "member_id": r["member_id"]}
                if r["op"] == "upsert":
                    change = MemberChange(
                        **common,
                        version=r["version"],
                        op="upsert",
                        model=r["model"],
                        vectors=tuple(json.loads(r["vectors"])),
                        member=MemberInfo.model_validate_json(r["member"]),
                        consent=Consent.model_validate_json(r["consent"]),
                    )
                else:
                    change = MemberChange(**common, version=r["version"], op="erase", reason="consent scope narrowed")
                out.append(Outgoing(r["store_id"], change))
                sent.append(r["id"])
            stale_box = or_(erasure_boxes.c.sent_at.is_(None), erasure_boxes.c.sent_at < before)
            boxes = conn.execute(
                select(erasure_boxes, erasures.c.member_id, erasures.c.version, erasures.c.reason)
                .join(erasures, erasures.c.erasure_id == erasure_boxes.c.erasure_id)
                .where(erasure_boxes.c.state == "pending", stale_box, erasures.c.member_id.is_not(None))
                .limit(limit)
            ).mappings()
            sent_boxes: list[int] = []
            for r in boxes:
                change = MemberChange(
                    change_id=r["change_id"],
                    store_id=r["store_id"],
                    member_id=r["member_id"],
                    version=r["version"],
                    op="erase",
                    reason=r["reason"],
                )
                out.append(Outgoing(r["store_id"], change))
                sent_boxes.append(r["id"])
            stamp = iso(now)
            if sent:
                conn.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(sent))
                    .values(sent_at=stamp, attempts=deliveries.c.attempts + 1)
                )
            if sent_boxes:
                conn.execute(
                    erasure_boxes.update()
                    .where(erasure_boxes.c.id.in_(sent_boxes))
                    .values(sent_at=stamp, attempts=erasure_boxes.c.attempts + 1)
                )
        return out

    def receipt(self, receipt: BoxReceipt) -> bool:
        """Record a box's receipt (its store already checked against the topic); False when it matches nothing.

        An erasure whose boxes have all confirmed is complete: the member id is dropped.
        """
        return self.receipts([receipt]) == 1

    def receipts(self, receipts: list[BoxReceipt]) -> int:
        """Record receipts in one transaction (in order); returns how many matched a change."""
        with self.engine.begin() as conn:
            return sum(self._receipt(conn, r) for r in receipts)

    def _receipt(self, conn: Any, receipt: BoxReceipt) -> bool:
        now = iso(utc_now())
        row = conn.execute(
            select(deliveries.c.id, deliveries.c.version, deliveries.c.op, deliveries.c.state).where(
                deliveries.c.change_id == receipt.change_id, deliveries.c.store_id == receipt.store_id
            )
        ).first()
        if row is not None:
            if row.state != "pending":
                return True  # judged before: a repeated delivery's receipt
            state, detail = judge(receipt, row.op, row.version)
            if state is None:
                return False
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == row.id, deliveries.c.state == "pending")
                .values(state=state, confirmed_at=now, held_vectors=receipt.held_vectors, detail=detail)
            )
            return True
        found = conn.execute(
            select(erasure_boxes.c.erasure_id, erasure_boxes.c.state, erasures.c.version)
            .join(erasures, erasures.c.erasure_id == erasure_boxes.c.erasure_id)
            .where(erasure_boxes.c.change_id == receipt.change_id, erasure_boxes.c.store_id == receipt.store_id)
        ).first()
        if found is None:
            return False
        if found.state != "pending":  # a repeated delivery's "already": the first receipt stays the proof
            return True
        state, _ = judge(receipt, "erase", found.version)
        if state is None:
            return False
        conn.execute(
            erasure_boxes.update()
            .where(erasure_boxes.c.change_id == receipt.change_id)
            .values(
                state=state,
                confirmed_at=now,
                removed=json.dumps(receipt.removed, sort_keys=True),
                receipt_id=receipt.receipt_id,
            )
        )
        left = conn.execute(
            select(func.count())
            .select_from(erasure_boxes)
            .where(erasure_boxes.c.erasure_id == found.erasure_id, erasure_boxes.c.state != "confirmed")
        ).scalar()
        if not left:
            conn.execute(
                erasures.update()
                .where(erasures.c.erasure_id == found.erasure_id)
                .values(member_id=None, completed_at=now)
            )
        return True

    def register_box(self, store_id: str, public_key: str) -> bool:
        """Record (or replace) the key a store's box signs its receipts with; True when it was new or changed."""
        now = iso(utc_now())
        with self.engine.begin() as conn:
            held = conn.execute(select(box_keys.c.public_key).where(box_keys.c.store_id == store_id)).scalar()
            if held == public_key:
                return False
            if held is None:
                conn.execute(box_keys.insert().values(store_id=store_id, public_key=public_key, registered_at=now))
            else:
                conn.execute(
                    box_keys.update()
                    .where(box_keys.c.store_id == store_id)
                    .values(public_key=public_key, registered_at=now)
                )
        return True

    def registered_keys(self) -> dict[str, str]:
        """Each registered store's box key (public, base64)."""
        with self.engine.connect() as conn:
            return {r.store_id: r.public_key for r in conn.execute(select(box_keys.c.store_id, box_keys.c.public_key))}

    def members(self) -> list[dict[str, Any]]:
        """Every member with their scope, version and, per store, the delivery's state."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(chain_members).order_by(chain_members.c.member_id)).mappings().all()
            per: dict[str, dict[str, Any]] = {}
            for d in conn.execute(select(deliveries).order_by(deliveries.c.store_id)).mappings():
                per.setdefault(d["member_id"], {})[d["store_id"]] = {
                    "op": d["op"],
                    "version": d["version"],
                    "state": d["state"],
                    "attempts": d["attempts"],
                    "held_vectors": d["held_vectors"],
                    "detail": d["detail"],
                }
        return [
            {
                "member_id": r["member_id"],
                "version": r["version"],
                "scope": r["scope"],
                "home_store": r["home_store"],
                "stores": per.get(r["member_id"], {}),
                "updated_at": r["updated_at"],
            }
            for r in rows
        ]

    def erasures(self, member_id: str | None = None) -> list[dict[str, Any]]:
        """Every erasure (or a member's, by id), with the boxes that confirmed and those still pending."""
        with self.engine.connect() as conn:
            query = select(erasures).order_by(erasures.c.requested_at)
            if member_id is not None:
                query = query.where(erasures.c.member_ref == member_hash(member_id))
            rows = conn.execute(query).mappings().all()
            boxes: dict[str, list[dict[str, Any]]] = {}
            for b in conn.execute(select(erasure_boxes).order_by(erasure_boxes.c.store_id)).mappings():
                boxes.setdefault(b["erasure_id"], []).append(dict(b))
        out = []
        for r in rows:
            mine = boxes.get(r["erasure_id"], [])
            out.append(
                {
                    "erasure_id": r["erasure_id"],
                    "member_ref": r["member_ref"],
                    "reason": r["reason"],
                    "requested_at": r["requested_at"],
                    "completed_at": r["completed_at"],
                    "confirmed": {
                        b["store_id"]: {
                            "at": b["confirmed_at"],
                            "receipt_id": b["receipt_id"],
                            "removed": json.loads(b["removed"]),
                        }
                        for b in mine
                        if b["state"] == "confirmed"
                    },
                    "pending": [
                        {"store_id": b["store_id"], "attempts": b["attempts"], "state": b["state"]}
                        for b in mine
                        if b["state"] != "confirmed"
                    ],
                }
            )
        return out


def record_status(engine: Engine, status: StatusEvent) -> None:
    """Keep each camera's last status (a box's retained status, carried by its bridge)."""
    values = {
        "state": status.state,
        "ts": status.ts,
        "fps": status.fps,
        "detail": status.detail,
        "software": status.software,
        "received_at": iso(utc_now()),
    }
    with engine.begin() as conn:
        key = (boxes.c.store_id == status.store_id, boxes.c.camera_id == status.camera_id)
        if not conn.execute(boxes.update().where(*key).values(**values)).rowcount:
            conn.execute(boxes.insert().values(store_id=status.store_id, camera_id=status.camera_id, **values))


def box_status(engine: Engine) -> list[dict[str, Any]]:
    """Every camera's last status, by store."""
    with engine.connect() as conn:
        rows = conn.execute(select(boxes).order_by(boxes.c.store_id, boxes.c.camera_id)).mappings().all()
    return [dict(r) for r in rows]


def seen_stores(engine: Engine) -> list[str]:
    """Stores whose events or status have reached head office."""
    with engine.connect() as conn:
        found = {r[0] for r in conn.execute(select(events.c.store_id).distinct())}
        found |= {r[0] for r in conn.execute(select(boxes.c.store_id).distinct())}
    return sorted(found)
