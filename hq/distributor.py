"""Member changes and erasures out to the boxes, signed and sent again until each box has confirmed; receipts in.

Every change goes out signed with head office's current key (:class:`storelens.hq.keys.HqKeys`); a receipt is
counted only when it verifies against the key registered for its store's box (``storelens hq box-key``).
"""

from __future__ import annotations

import logging
import queue

from sqlalchemy.exc import SQLAlchemyError

from storelens.chain import BoxReceipt, command_topic
from storelens.clock import now_iso
from storelens.errors import PayloadError, SignatureError
from storelens.events import parse_payload
from storelens.hq.keys import HqKeys
from storelens.hq.registry import ChainMembers
from storelens.signing import Keyring
from storelens.transport import Transport
from storelens.workers import Periodic, drain

log = logging.getLogger(__name__)
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
    """

    def __init__(self, members: ChainMembers, transport: Transport, chase_seconds: float, keys: HqKeys) -> None:
        super().__init__("distributor", min(TICK_SECONDS, chase_seconds / 2), retry_on=(SQLAlchemyError,))
        self.members, self.transport, self.chase_seconds, self.keys = members, transport, chase_seconds, keys
        self.sent = 0
        self.recorded = 0
        self.refused = 0
        self._box_keys: dict[str, Keyring] = {}
        self._receipts: queue.Queue[BoxReceipt] = queue.Queue(maxsize=MAX_RECEIPTS)

    def _keyring(self, store_id: str) -> Keyring | None:
        """The key a store's box signs with (read again from the registry when not known yet)."""
        if store_id not in self._box_keys:
            self._box_keys = {s: Keyring([k]) for s, k in self.members.registered_keys().items()}
        return self._box_keys.get(store_id)

    def on_receipt(self, topic: str, payload: bytes) -> None:
        """A box's receipt: checked (size, signature by that store's box, model, the store of its topic), queued."""
        store_id = topic.split("/")[2]
        try:
            keyring = self._keyring(store_id)
            if keyring is None:
                raise SignatureError(f"store {store_id} has no registered box key (storelens hq box-key)")
            receipt = parse_payload(BoxReceipt, keyring.verify("receipt", payload, now_iso()))
        except (PayloadError, SignatureError) as exc:
            self.refused += 1
            log.warning("refused a message on %s: %s", topic[:200], str(exc)[:300])
            return
        except SQLAlchemyError as exc:  # the registry is away: the box sends the receipt again with the change
            log.warning("receipt on %s not checked: %s", topic[:200], exc.__class__.__name__)
            return
        if receipt.store_id != store_id:
            log.warning("refused a message on %s: a receipt of store %s under store %s's topic", topic[:200],
                        receipt.store_id, store_id)  # fmt: skip
            return
        self.received(receipt)

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
        """Receipts first (a confirmed change is not sent again), then what is due."""
        self.record_receipts()
        self.send_due()

    def last(self) -> None:
        """What arrived is kept; what is lost is sent again and answered again."""
        self.record_receipts()
