"""The box's side of the chain: head office's member changes applied to this store's gallery, each answered.

Changes arrive on :func:`storelens.chain_messages.command_topic` (carried in by the store broker's bridge, queued by the
brokers while the box is away, and sent again by head office until it has a receipt), each signed by head office:
a message that no key of this box's :class:`storelens.signing.Keyring` signed changes nothing, gets no receipt,
and is logged in one line and counted in ``/metrics``. A change is applied once, whatever the order or repetition:
only when its version is newer than the one this box last applied for that member (an erasure's version outlives
the member, under the member's hash). Every signed delivery is answered with a
:class:`storelens.chain_messages.BoxReceipt` on :func:`storelens.chain_messages.receipt_topic`, signed with this box's
own key (``chain.key_file``), which head office registered when the box joined.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from storelens.api.services import Services
from storelens.chain_messages import (
    MAX_VECTORS,
    BoxReceipt,
    MemberChange,
    MemberReport,
    ReportNoted,
    command_topic,
    encode_vectors,
    receipt_topic,
    report_topic,
    status_topic,
)
from storelens.clock import now_iso
from storelens.config import Config
from storelens.edge_events import StatusEvent, parse_payload
from storelens.errors import ConfigError, EnrolmentError, PayloadError, SignatureError, StoreLensError
from storelens.gallery.gallery import Gallery
from storelens.gallery.records import check_consent
from storelens.members import MemberInfo, member_hash
from storelens.signing import Keyring, SigningKey
from storelens.transport.base import Transport
from storelens.workers import Periodic, drain

log = logging.getLogger(__name__)
MAX_QUEUED = 100_000  # changes waiting to be applied (a new box's first sync of a large chain)
REPORT_BATCH = 200  # reports to head office read from the outbox per round
REPORT_ROUND = 0.5  # seconds between two looks at the outbox


def chain_keyring(config: Config) -> Keyring:
    """The head-office keys this box trusts: configured ones and those learned (``deploy bridge``, rotations)."""
    return Keyring(config.chain.hq_public_keys, config.chain.keyring_path(config.gallery.dir))


class BoxChainAgent(Periodic):
    """Applies head office's changes to this box's gallery and publishes a receipt for each.

    Messages are validated as they arrive and queued; a worker applies them in order, consecutive upserts
    together (one gallery transaction and one index save per batch: a new box receives thousands at
    once), then publishes the receipts. A change lost in a crash before its receipt is sent again by
    head office.

    Args:
        services: the API's services (the gallery, and the erasure that also clears the books).
        transport: the API's broker connection (the agent subscribes on it; the wiring starts and stops it).
        store_id: this store.
        keyring: head office's keys this box trusts.
        key_file: this box's own key (made when missing), its receipts' signature.
        batch: most changes applied together.
    """

    def __init__(
        self,
        services: Services,
        transport: Transport,
        store_id: str,
        keyring: Keyring,
        key_file: Path,
        batch: int = 500,
        resend_seconds: float = 30.0,
    ) -> None:
        super().__init__("chain-agent", 0.02)
        self.services, self.transport, self.store_id, self.batch = services, transport, store_id, batch
        self.keyring, self.key_file = keyring, key_file
        self.rules = services.config.privacy_rules()
        self.refused_messages = 0
        self._key: SigningKey | None = None
        self._queue: queue.Queue[MemberChange] = queue.Queue(maxsize=MAX_QUEUED)
        self._noted: queue.Queue[ReportNoted] = queue.Queue(maxsize=MAX_QUEUED)
        self.resend_seconds = resend_seconds
        self._next_reports = 0.0
        self._report_sent: dict[str, float] = {}  # report id -> when last sent (only reports still in the outbox)
        self._lock = threading.Lock()
        self._keyring_lock = threading.Lock()  # the keyring learns rotations: one message at a time
        transport.subscribe(command_topic(store_id), self._on_message)

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            with self._keyring_lock:
                body = self.keyring.verify("command", payload, now_iso())
        except SignatureError as exc:
            self._refuse(topic, str(exc), "signature")
            return
        try:
            if b'"report_id"' in body:  # head office noted one of this box's reports
                noted = parse_payload(ReportNoted, body)
                if noted.store_id == self.store_id:
                    self._noted.put_nowait(noted)
                return
            change = parse_payload(MemberChange, body)
        except PayloadError as exc:
            self._refuse(topic, str(exc), "payload")
            return
        except queue.Full:  # noted again when the report is sent again
            return
        if change.store_id != self.store_id:
            self._refuse(topic, f"addressed to store {change.store_id}, this is {self.store_id}", "store")
            return
        try:
            self._queue.put_nowait(change)
        except queue.Full:  # head office sends it again until it has a receipt
            log.warning("head-office change %s not queued: %d waiting", change.change_id, MAX_QUEUED)

    def _refuse(self, topic: str, why: str, reason: str) -> None:
        self.refused_messages += 1
        self.services.metrics.chain_refused.labels(reason=reason).inc()
        log.warning("refused a head-office message on %s: %s", topic[:200], why.splitlines()[0][:300])

    def signer(self) -> SigningKey | None:
        """This box's key (made on first use where the folder is writable); None, logged, when it cannot be."""
        if self._key is None:
            try:
                self._key = SigningKey.load(self.key_file, create=True)
            except (ConfigError, OSError) as exc:
                self.services.metrics.chain_refused.labels(reason="receipt_key").inc()
                log.error("cannot sign receipts: %s", str(exc).splitlines()[0][:300])
        return self._key

    def send_status(self, status: StatusEvent) -> None:
        """A camera's status on to head office, signed by this box's key (head office's boxes page).

        Nothing is sent where this box is in no chain (no key made by ``deploy bridge``).
        """
        if self._key is None and not self.key_file.exists():
            return
        key = self.signer()
        if key is not None:
            signed = key.sign("status", status.model_dump_json().encode())
            self.transport.publish(status_topic(self.store_id), signed, qos=1)

    def flush(self) -> int:
        """Apply what is queued (up to ``batch`` changes) and publish the receipts; returns how many."""
        changes = drain(self._queue, self.batch)
        if not changes:
            return 0
        key = self.signer()
        for change, receipt in zip(changes, self.apply_all(changes), strict=True):
            self.services.metrics.chain_changes.labels(outcome=receipt.outcome).inc()
            if key is not None:  # else head office sends the change again, and it is answered again
                signed = key.sign("receipt", receipt.model_dump_json().encode())
                self.transport.publish(receipt_topic(self.store_id), signed, qos=1)
            log.info(
                "head office change %s (version %d, %s): %s %s",
                change.change_id,
                change.version,
                change.op,
                receipt.outcome,
                receipt.detail[:200],
            )
        return len(changes)

    def tick(self) -> None:
        """Apply what has arrived, batch after batch; then report this box's own member changes."""
        while self.flush() == self.batch and not self.stopping():
            pass
        if time.monotonic() >= self._next_reports or not self._noted.empty():
            self._next_reports = time.monotonic() + REPORT_ROUND
            try:
                self.send_reports()
            except (StoreLensError, sqlite3.Error) as exc:  # the gallery is away: the outbox keeps the reports
                self._next_reports = time.monotonic() + self.resend_seconds
                log.error("reports to head office not sent: %s", str(exc).splitlines()[0][:300])

    def send_reports(self) -> int:
        """Forget what head office has noted; send what it has not (again after ``resend_seconds``).

        Returns:
            How many reports were published.
        """
        gallery = self.services.gallery()
        if not self.keyring.keys:  # outside any chain: no head office to tell, and nothing kept for one
            if gallery.templates.reports(1) and gallery.templates.clear_reports():  # a write only when there is any
                log.info("this box is in no chain (no head-office key): its member reports were dropped")
            return 0
        for noted in drain(self._noted, MAX_QUEUED):
            if gallery.templates.drop_report(noted.report_id):
                log.info("head office noted report %s: %s", noted.report_id, noted.outcome[:200])
            self._report_sent.pop(noted.report_id, None)
        if not self.transport.is_connected():
            return 0
        now, sent = time.monotonic(), 0
        waiting = gallery.templates.reports(REPORT_BATCH)
        still = {w[0] for w in waiting}
        self._report_sent = {r: t for r, t in self._report_sent.items() if r in still}
        key = None
        for report_id, member_id, member_ref, op, reason in waiting:
            if now - self._report_sent.get(report_id, -1e18) < self.resend_seconds:
                continue
            report = self._report(gallery, report_id, member_id, member_ref, op, reason)
            if report is None:  # an enrolment since erased: its erasure's report follows
                gallery.templates.drop_report(report_id)
                continue
            key = key or self.signer()
            if key is None:
                return sent
            self.transport.publish(report_topic(self.store_id), key.sign("report", report.model_dump_json().encode()))
            self._report_sent[report_id] = now
            sent += 1
        return sent

    def _report(
        self, gallery: Gallery, report_id: str, member_id: str | None, member_ref: str, op: str, reason: str
    ) -> MemberReport | None:
        """The report of one outbox row (an enrolment with what is held now), or None when nothing is left to say."""
        base = {"report_id": report_id, "store_id": self.store_id, "member_ref": member_ref, "op": op}
        if op != "enrolled" or member_id is None:
            return MemberReport.model_validate({**base, "reason": reason})
        consent, record = gallery.templates.consent(member_id), gallery.templates.member(member_id)
        _, vectors, _ = gallery.templates.member_vectors(member_id)
        if consent is None or record is None or not len(vectors):
            return None
        member = MemberInfo(member_id=member_id, name=record.name)
        held = encode_vectors(vectors[-MAX_VECTORS:])
        enrolled: dict[str, object] = {"member_id": member_id, "model": gallery.model, "vectors": held}
        enrolled.update(member=member, consent=consent)
        return MemberReport.model_validate({**base, **enrolled})

    def apply(self, change: MemberChange) -> BoxReceipt:
        """Apply one change (unless this or a newer version was) and say what happened and what is held."""
        return self.apply_all([change])[0]

    def apply_all(self, changes: list[MemberChange]) -> list[BoxReceipt]:
        """Apply changes in order, consecutive upserts of different members in one gallery transaction."""
        with self._lock:
            gallery = self.services.gallery()
            receipts: dict[int, BoxReceipt] = {}
            pending: list[tuple[int, MemberChange, NDArray[np.float32]]] = []

            def put_pending() -> None:
                items = [(c.member, c.consent, v, c.version) for _, c, v in pending if c.member and c.consent]
                gallery.put_chain_members(items)
                for i, c, _ in pending:
                    receipts[i] = self._receipt(gallery, c, "applied")
                pending.clear()

            for i, change in enumerate(changes):
                mid = change.member_id
                if any(c.member_id == mid for _, c, _ in pending):
                    put_pending()
                if gallery.chain_version(mid) >= change.version:
                    receipts[i] = self._receipt(
                        gallery, change, "already", "this or a newer version was applied before"
                    )
                elif change.op == "erase":
                    put_pending()
                    receipts[i] = self._erase(gallery, change)
                else:
                    problem = self._problem(change, gallery.model, gallery.dim)
                    if problem or change.member is None or change.consent is None:
                        receipts[i] = self._receipt(gallery, change, "refused", problem or "incomplete upsert")
                    else:
                        pending.append((i, change, change.decoded(gallery.dim)))
            if pending:
                put_pending()
            return [receipts[i] for i in range(len(changes))]

    def _erase(self, gallery: Gallery, change: MemberChange) -> BoxReceipt:
        erased = self.services.erase(change.member_id, report=False)
        gallery.note_chain_version(change.member_id, change.version, "erase")
        if erased is None:
            return self._receipt(gallery, change, "applied", "nothing of this member was held")
        receipt_id, _, removed = erased
        return self._receipt(gallery, change, "applied", f"erased ({receipt_id}): {change.reason}", removed)

    def _receipt(
        self,
        gallery: Gallery,
        change: MemberChange,
        outcome: str,
        detail: str = "",
        removed: dict[str, int] | None = None,
    ) -> BoxReceipt:
        return BoxReceipt.model_validate(
            {
                "store_id": self.store_id,
                "change_id": change.change_id,
                "member_ref": member_hash(change.member_id),
                "version": change.version,
                "op": change.op,
                "outcome": outcome,
                "detail": detail[:300],
                "held_vectors": len(gallery.templates.member_vectors(change.member_id)[0]),
                "removed": removed or {},
            }
        )

    def _problem(self, change: MemberChange, model: str, dim: int) -> str | None:
        """Why this box may not hold the change's vectors, or None."""
        if change.model != model:
            return f"this box recognises with {model}; the change carries {change.model} vectors"
        try:
            change.decoded(dim)
            if change.consent is not None:
                check_consent(change.consent, self.rules)
        except (ValueError, EnrolmentError) as exc:
            return str(exc)
        return None
