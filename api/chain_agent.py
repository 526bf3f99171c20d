"""The box's side of the chain: head office's member changes applied to this store's gallery, each answered.

Changes arrive on :func:`storelens.chain.command_topic` (carried in by the store broker's bridge, queued by
the brokers while the box is away, and sent again by head office until it has a receipt). A change is
applied once, whatever the order or repetition: only when its version is newer than the one this box last
applied for that member (an erasure's version outlives the member, under the member's hash). Every
delivery is answered with a :class:`storelens.chain.BoxReceipt` on :func:`storelens.chain.receipt_topic`.
"""

from __future__ import annotations

import logging
import threading

from pydantic import ValidationError

from storelens.api.services import Services
from storelens.bounds import MAX_PAYLOAD_BYTES
from storelens.chain import BoxReceipt, MemberChange, command_topic, receipt_topic
from storelens.errors import EnrolmentError
from storelens.gallery.records import check_consent
from storelens.members import member_hash
from storelens.transport import Transport

log = logging.getLogger(__name__)


class ChainAgent:
    """Applies head office's changes to this box's gallery and publishes a receipt for each.

    Args:
        services: the API's services (the gallery, and the erasure that also clears the event store).
        transport: the API's broker connection (the agent subscribes on it; the wiring starts and stops it).
        store_id: this store.
    """

    def __init__(self, services: Services, transport: Transport, store_id: str) -> None:
        self.services, self.transport, self.store_id = services, transport, store_id
        self.rules = services.config.privacy_rules()
        self.refused_messages = 0
        self._lock = threading.Lock()
        transport.subscribe(command_topic(store_id), self._on_message)

    def _on_message(self, topic: str, payload: bytes) -> None:
        if len(payload) > MAX_PAYLOAD_BYTES:
            self._refuse(topic, f"{len(payload)} bytes, at most {MAX_PAYLOAD_BYTES} accepted")
            return
        try:
            change = MemberChange.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            self._refuse(topic, f"{'.'.join(str(p) for p in first['loc']) or 'payload'}: {first['msg']}")
            return
        if change.store_id != self.store_id:
            self._refuse(topic, f"addressed to store {change.store_id}, this is {self.store_id}")
            return
        receipt = self.apply(change)
        self.transport.publish(receipt_topic(self.store_id), receipt.model_dump_json().encode(), qos=1)
        log.info(
            "head office change %s (version %d, %s): %s %s",
            change.change_id,
            change.version,
            change.op,
            receipt.outcome,
            receipt.detail[:200],
        )

    def _refuse(self, topic: str, why: str) -> None:
        self.refused_messages += 1
        log.warning("refused a head-office message on %s: %s", topic[:200], why[:300])

    def apply(self, change: MemberChange) -> BoxReceipt:
        """Apply one change (unless this or a newer version was) and say what happened and what is held."""
        with self._lock:
            gallery = self.services.gallery()
            mid = change.member_id

            def receipt(outcome: str, detail: str = "", removed: dict[str, int] | None = None) -> BoxReceipt:
                held = len(gallery.store.member_vectors(mid)[0])
                return BoxReceipt.model_validate(
                    {
                        "store_id": self.store_id,
                        "change_id": change.change_id,
                        "member_ref": member_hash(mid),
                        "version": change.version,
                        "op": change.op,
                        "outcome": outcome,
                        "detail": detail[:300],
                        "held_vectors": held,
                        "removed": removed or {},
                    }
                )

            if gallery.chain_version(mid) >= change.version:
                return receipt("already", "this or a newer version was applied before")
            if change.op == "erase":
                erased = self.services.erase(mid)
                gallery.note_chain_version(mid, change.version, "erase")
                if erased is None:
                    return receipt("applied", "nothing of this member was held")
                receipt_id, _, removed = erased
                return receipt("applied", f"erased ({receipt_id}): {change.reason}", removed)
            problem = self._problem(change, gallery.model, gallery.dim)
            if problem:
                return receipt("refused", problem)
            if change.member is None or change.consent is None:  # MemberChange guarantees both for an upsert
                return receipt("refused", "an upsert without member or consent")
            gallery.put_chain_member(change.member, change.consent, change.decoded(gallery.dim), change.version)
            return receipt("applied")

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
