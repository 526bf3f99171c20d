"""Member changes and erasures out to the boxes, signed and sent again until each box has confirmed; receipts in.

Every change goes out signed with head office's current key (:class:`storelens.hq.keys.HqKeys`); a receipt is
counted only when it verifies against the key registered for its store's box (``storelens hq box-key``).

Members flow both ways: a box reports what it did on its own (:class:`storelens.chain_messages.MemberReport`, signed
with the same box key). An enrolment made at a store's counter is recorded here and sent to the other stores its
consent's scope covers; an erasure asked at any store erases the member chain-wide; a box's retention purge is recorded
against that store. Each report is acted on once (by its id) and answered with a signed
:class:`storelens.chain_messages.ReportNoted`, which lets the box forget it.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from storelens.chain_messages import BoxReceipt, MemberReport, ReportNoted, command_topic
from storelens.errors import PayloadError, SignatureError
from storelens.hq.box_keys import BoxKeys
from storelens.hq.keys import HqKeys
from storelens.hq.registry import ChainMembers
from storelens.signing import Purpose
from storelens.transport.base import Transport
from storelens.workers import Periodic, drain

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
SEND_BATCH = 500  # changes read from the registry and published per round trip; receipts recorded per commit
MAX_RECEIPTS = 200_000  # receipts waiting to be recorded
TICK_SECONDS = 0.25  # how often the registry is asked what is due (an indexed query on the pending state)


class Distributor(Periodic):
    """Records the boxes' receipts and sends what the member registry says is due, every round, until stopped.

    Args:
        members: the registry (the queue).
        transport: the central broker connection.
        chase_seconds: resend a change a box has not confirmed after this long.
        keys: head office's signing keys.
        known: every store of the chain now (where chain-scope members go).
    """

    def __init__(
        self,
        members: ChainMembers,
        transport: Transport,
        chase_seconds: float,
        keys: HqKeys,
        known: Callable[[], list[str]] = list,
    ) -> None:
        super().__init__("distributor", min(TICK_SECONDS, chase_seconds / 2), retry_on=(SQLAlchemyError,))
        self.members, self.transport, self.chase_seconds, self.keys = members, transport, chase_seconds, keys
        self.sent = 0
        self.recorded = 0
        self.box_keys = BoxKeys(members)
        self._receipts: queue.Queue[BoxReceipt] = queue.Queue(maxsize=MAX_RECEIPTS)
        self._reports: queue.Queue[MemberReport] = queue.Queue(maxsize=MAX_RECEIPTS)
        self.known = known

    def _from_box(self, topic: str, payload: bytes, purpose: Purpose, model: type[M]) -> M | None:
        """A box's message, checked (:meth:`storelens.hq.box_keys.BoxKeys.open`).

        None (logged, counted) when a check fails, or when the registry is away (the box sends it again).
        """
        try:
            return self.box_keys.open(topic, payload, purpose, model)
        except (PayloadError, SignatureError) as exc:
            self.box_keys.refuse(topic, exc)
            return None
        except SQLAlchemyError as exc:
            log.warning("%s on %s not checked: %s", purpose, topic[:200], exc.__class__.__name__)
            return None

    def on_receipt(self, topic: str, payload: bytes) -> None:
        """A box's receipt: checked (see :meth:`_from_box`), queued."""
        receipt = self._from_box(topic, payload, "receipt", BoxReceipt)
        if receipt is not None:
            self.received(receipt)

    def on_report(self, topic: str, payload: bytes) -> None:
        """A box's report of its own member change: checked (see :meth:`_from_box`), queued."""
        report = self._from_box(topic, payload, "report", MemberReport)
        if report is None:
            return
        try:
            self._reports.put_nowait(report)
        except queue.Full:  # the box sends it again
            log.warning("report %s dropped: %d waiting", report.report_id, MAX_RECEIPTS)

    def act_on_reports(self) -> int:
        """Act on every queued report once (by its id) and tell each box it was noted; returns how many."""
        done = 0
        for report in drain(self._reports, MAX_RECEIPTS):
            if self.members.claim(report.report_id, report.store_id, report.op):
                outcome = self._act(report)
                self.members.note(report.report_id, outcome)
            else:
                outcome = self.members.noted(report.report_id) or "being acted on by another head-office worker"
            noted = ReportNoted(store_id=report.store_id, report_id=report.report_id, outcome=outcome[:300])
            self.transport.publish(
                command_topic(report.store_id), self.keys.sign_command(noted.model_dump_json().encode())
            )
            log.info("store %s reported %s of a member: %s", report.store_id, report.op, outcome[:200])
            done += 1
        return done

    def _act(self, report: MemberReport) -> str:
        """What a report changes at head office; its outcome in words."""
        store = report.store_id
        member_id = report.member_id or self.members.member_id_of(report.member_ref)
        if member_id is None:
            return "nothing of this member was held at head office"
        if report.op == "erased":
            found = self.members.erase(member_id, f"asked at store {store}: {report.reason}"[:200])
            if found is None:
                return "nothing of this member was held at head office"
            return f"erased chain-wide ({found[0]}): {len(found[1])} box(es) to confirm"
        if report.op == "purged":
            if self.members.purged(member_id, store, report.reason):
                return "recorded: this store no longer holds the member"
            return "nothing of this member was recorded for this store"
        if report.member is None or report.consent is None:  # the model requires them; typed for mypy
            return "incomplete enrolment"
        try:
            vectors = report.decoded()
        except ValueError as exc:
            return f"refused: {exc}"
        scope = report.consent.scope
        version, stores = self.members.enrol(
            report.member, report.consent, report.model, vectors, scope, store, [], self.known(), source=store
        )
        return f"enrolled (version {version}, scope {scope}): sent to {len(stores) - (store in stores)} other store(s)"

    def received(self, receipt: BoxReceipt) -> None:
        """Queue a box's receipt; recorded with the others of its round in one transaction."""
        try:
            self._receipts.put_nowait(receipt)
        except queue.Full:  # the change stays pending: it is sent again and answered again
            log.warning("receipt %s dropped: %d waiting to be recorded", receipt.receipt_id, MAX_RECEIPTS)

    def record_receipts(self) -> int:
        """Record every queued receipt (in batches of ``SEND_BATCH``); returns how many matched a change."""
        matched = 0
        while batch := drain(self._receipts, SEND_BATCH):
            matched += self.members.receipts(batch)
        self.recorded += matched
        return matched

    def send_due(self) -> int:
        """Publish every change due now (nothing while the broker is away); returns how many."""
        total = 0
        while self.transport.is_connected():
            due = self.members.due(self.chase_seconds, limit=SEND_BATCH)
            self.keys.refresh()  # a rotation by `storelens hq keys rotate`
            for out in due:
                signed = self.keys.sign_command(out.change.model_dump_json().encode())
                self.transport.publish(command_topic(out.store_id), signed, qos=1)
            total += len(due)
            if len(due) < SEND_BATCH or self.stopping():
                break
        self.sent += total
        return total

    def tick(self) -> None:
        """Receipts first (a confirmed change is not sent again), then the boxes' reports, then what is due."""
        self.record_receipts()
        self.act_on_reports()
        self.send_due()

    def last(self) -> None:
        """What arrived is kept; what is lost is sent again and answered again."""
        self.record_receipts()
        self.act_on_reports()
