"""Member changes and erasures out to the boxes, sent again until each box has confirmed; their receipts in."""

from __future__ import annotations

import logging
import queue

from sqlalchemy.exc import SQLAlchemyError

from storelens.chain import BoxReceipt, command_topic
from storelens.errors import PayloadError
from storelens.events import parse_payload
from storelens.hq.registry import ChainMembers
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
    """

    def __init__(self, members: ChainMembers, transport: Transport, chase_seconds: float) -> None:
        super().__init__("distributor", min(TICK_SECONDS, chase_seconds / 2), retry_on=(SQLAlchemyError,))
        self.members, self.transport, self.chase_seconds = members, transport, chase_seconds
        self.sent = 0
        self.recorded = 0
        self._receipts: queue.Queue[BoxReceipt] = queue.Queue(maxsize=MAX_RECEIPTS)

    def on_receipt(self, topic: str, payload: bytes) -> None:
        """A box's receipt from the central broker: checked (size, model, the store of its topic), then queued."""
        store_id = topic.split("/")[2]
        try:
            receipt = parse_payload(BoxReceipt, payload)
        except PayloadError as exc:
            log.warning("refused a message on %s: %s", topic[:200], str(exc)[:300])
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
            for out in due:
                self.transport.publish(command_topic(out.store_id), out.change.model_dump_json().encode(), qos=1)
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
