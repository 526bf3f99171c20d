"""What the boxes send head office besides events: members' closed visits and camera statuses.

A visit is kept once for the chain's member platform where the member's consent allows it
(:func:`storelens.members.shares_visits`); a status is recorded for the boxes' page. Each message is checked
against its topic first: a store may speak only for itself.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storelens.chain_messages import VisitRecord
from storelens.edge_events import StatusEvent, parse_payload, parse_topic
from storelens.errors import PayloadError
from storelens.hq.crm import CrmOutbox
from storelens.hq.registry import ChainMembers, record_status
from storelens.members import shares_visits

log = logging.getLogger(__name__)


class BoxMessages:
    """Handlers for the boxes' visits and statuses (subscribed by the head-office wiring).

    Args:
        members: the chain's member registry (its consents and erasures).
        crm: the outbox of visits for the member platform.
        engine: head office's database, where statuses are recorded.
    """

    def __init__(self, members: ChainMembers, crm: CrmOutbox, engine: Engine) -> None:
        self.members, self.crm, self.engine = members, crm, engine

    def on_visit(self, topic: str, payload: bytes) -> None:
        """A member's closed visit from a box: checked, kept once for the member platform."""
        try:
            store_id = parse_topic(topic)[0]
            visit = parse_payload(VisitRecord, payload)
        except (ValueError, PayloadError) as exc:
            log.warning("refused a message on %s: %s", topic[:200], str(exc).splitlines()[0][:300])
            return
        if visit.store_id != store_id:
            log.warning("refused a message on %s: a visit of another store than its topic's", topic[:200])
            return
        try:
            if not shares_visits(self.members.consent_of(visit.member_id), unknown=True):
                log.warning("refused a visit on %s: the member's consent does not cover sharing visits", topic[:200])
                return
            self.crm.add_visit(visit, self.members.erased_at(visit.member_id))
        except SQLAlchemyError as exc:  # the database is away: the box's bridge does not resend, so say so
            log.error("a visit on %s was not kept: %s", topic[:200], exc.__class__.__name__)

    def on_status(self, topic: str, payload: bytes) -> None:
        """A camera's status (retained by the broker): recorded when it names its topic's store and camera."""
        try:
            store_id, camera_id, _ = parse_topic(topic)
            if camera_id.startswith("_"):
                return
            status = parse_payload(StatusEvent, payload)
        except (ValueError, PayloadError) as exc:
            log.warning("refused a message on %s: %s", topic[:200], str(exc).splitlines()[0][:300])
            return
        if (status.store_id, status.camera_id) != (store_id, camera_id):
            log.warning("refused a message on %s: the status names another store or camera than its topic", topic[:200])
            return
        record_status(self.engine, status)
