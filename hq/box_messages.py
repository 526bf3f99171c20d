"""What the boxes send head office besides events and member traffic: members' closed visits and camera statuses.

Each is signed by its box's key and checked (:class:`storelens.hq.box_keys.BoxKeys`): a forged one changes nothing
and reaches no webhook. A visit is kept once for the chain's member platform where the member's consent allows it
(:func:`storelens.members.shares_visits`); a status is recorded for the boxes' page.

Nothing is lost while the database is away: messages are taken from the broker with manual acknowledgement, kept
in order by one writer, and acknowledged only once their row is committed (as events are, ``storelens.books.ingest``).
While the database is away the writer retries every second; what it holds stays unacknowledged, so the broker holds
back the rest and a head office stopped meanwhile has it all sent again.
"""

from __future__ import annotations

import logging
import queue

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storelens.chain_messages import VisitRecord
from storelens.edge_events import StatusEvent
from storelens.errors import PayloadError, SignatureError
from storelens.hq.box_keys import BoxKeys
from storelens.hq.crm import CrmOutbox
from storelens.hq.registry import ChainMembers, record_status
from storelens.members import shares_visits
from storelens.transport.base import Ack
from storelens.workers import Periodic, drain

log = logging.getLogger(__name__)
MAX_PENDING = 10_000  # messages taken and not yet kept (the broker's in-flight window bounds it well below)
BATCH = 200  # messages kept per round
KEEP_EVERY = 0.02  # seconds between two looks at what is pending
RETRY_SECONDS = 1.0  # while the database is away


class BoxMessages(Periodic):
    """Handlers for the boxes' visits and statuses, and the writer that keeps them (started by the wiring).

    Args:
        members: the chain's member registry (its consents and erasures).
        crm: the outbox of visits for the member platform.
        engine: head office's database, where statuses are recorded.
        box_keys: the boxes' registered keys.
    """

    def __init__(self, members: ChainMembers, crm: CrmOutbox, engine: Engine, box_keys: BoxKeys) -> None:
        super().__init__("box-messages", KEEP_EVERY)
        self.members, self.crm, self.engine, self.box_keys = members, crm, engine, box_keys
        self.kept = 0
        self._pending: queue.Queue[tuple[str, bytes, Ack]] = queue.Queue(maxsize=MAX_PENDING)
        self._away = False

    def take(self, topic: str, payload: bytes, ack: Ack) -> None:
        """A visit or status from the broker: queued for the writer (blocks the network thread when full)."""
        self._pending.put((topic, payload, ack))

    def tick(self) -> None:
        """Keep what is pending, a batch at a time."""
        while self.keep() == BATCH and not self.stopping():
            pass

    def last(self) -> None:
        """What was taken is kept if the database is there; the rest the broker sends again."""
        self.keep()

    def keep(self) -> int:
        """Check and keep up to ``BATCH`` pending messages in order, acknowledging each once kept; how many."""
        taken = drain(self._pending, BATCH)
        for done, (topic, payload, ack) in enumerate(taken):
            while True:
                try:
                    self._keep(topic, payload)
                    break
                except SQLAlchemyError as exc:  # away: keep it unacknowledged and try again
                    if not self._away:
                        log.error("head office's database is away; visits and statuses wait: %s", type(exc).__name__)
                        self._away = True
                    if self.pause(RETRY_SECONDS):
                        return done  # stopping: the broker sends the rest again
            if self._away:
                log.info("head office's database is back; the visits and statuses that waited are kept")
                self._away = False
            ack()
        return len(taken)

    def _keep(self, topic: str, payload: bytes) -> None:
        """Check one message and keep what it says (nothing when it is refused).

        Raises:
            SQLAlchemyError: the database is away.
        """
        try:
            if topic.endswith("/visit"):
                visit = self.box_keys.open(topic, payload, "visit", VisitRecord)
                if not shares_visits(self.members.consent_of(visit.member_id), unknown=True):
                    raise PayloadError("member_id", "the member's consent does not cover sharing visits")
                self.crm.add_visit(visit, self.members.erased_at(visit.member_id))
            else:
                record_status(self.engine, self.box_keys.open(topic, payload, "status", StatusEvent))
        except (PayloadError, SignatureError) as exc:
            self.box_keys.refuse(topic, exc)
            return
        self.kept += 1
