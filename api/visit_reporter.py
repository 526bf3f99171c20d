"""Members' visits, once closed, up to head office for the chain's member platform (CRM/CDP).

A visit is a member's arrival at this store and the ``chain.visit_minutes`` after it: who took the arrival on the
iPad, and whether the member bought here within that window (the POS imports). Only a member whose consent covers it
(``Consent.share_visits``) is reported. The worker walks the arrivals in order of storage, a cursor in the events
database marking how far it got: a visit is published at QoS 1 on :func:`storelens.chain_messages.visit_topic`,
signed by the box's key, and the cursor moves only once the store broker has acknowledged it (the broker's bridge
then queues it for head office), so a restart or a broker away loses none and sends some again (head office keeps
one per visit id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from storelens.api.services import Services
from storelens.bounds import parse_ts
from storelens.chain_messages import VisitRecord, visit_topic
from storelens.clock import iso, utc_now
from storelens.errors import StoreLensError
from storelens.members import shares_visits
from storelens.signing import SigningKey
from storelens.transport.mqtt import MqttTransport
from storelens.workers import Periodic

log = logging.getLogger(__name__)
CURSOR = "visits"
BATCH = 500  # arrivals looked at per round
CONFIRM_SECONDS = 10.0  # the store broker's acknowledgement of one visit


class VisitReporter(Periodic):
    """Publishes each member's closed visit, in order, once its window has passed.

    Args:
        services: the API's services (events, acknowledgements, sales, the gallery's consents).
        transport: the API's broker connection.
        store_id: this store.
        window_minutes: how long after the arrival a visit is judged (and may be bought in).
        currency: the currency spend is summed in.
        signer: this box's key (head office keeps only visits it signed); None while it cannot be had.
        every: seconds between two rounds.
    """

    def __init__(
        self,
        services: Services,
        transport: MqttTransport,
        store_id: str,
        window_minutes: int,
        currency: str,
        signer: Callable[[], SigningKey | None],
        every: float = 30.0,
    ) -> None:
        super().__init__("visit-reporter", every, retry_on=(StoreLensError,))
        self.services, self.transport, self.store_id = services, transport, store_id
        self.window, self.currency, self.signer = timedelta(minutes=window_minutes), currency, signer
        self.sent = 0

    def tick(self) -> None:
        """Report the closed visits stored since the cursor."""
        while self.report() == BATCH and not self.stopping():
            pass

    def report(self) -> int:
        """One batch: returns how many arrivals were passed (reported, or not to report)."""
        if not self.transport.is_connected():
            return 0
        events = self.services.books.events
        position = events.cursor(CURSOR)
        arrivals = events.since(position, kind="vip_arrival", limit=BATCH)
        closed_before = utc_now() - self.window
        taken = events.taken([a.payload["event_id"] for a in arrivals])
        passed = 0
        for arrival in arrivals:
            payload = arrival.payload
            arrived = parse_ts(payload["ts"])
            if arrived > closed_before:
                break  # still open: this and later arrivals wait for the next round
            record = self._record(payload, taken.get(payload["event_id"]))
            if record is not None:
                key = self.signer()
                if key is None:  # logged by the signer; the cursor stays, the visit goes once the key is there
                    break
                signed = key.sign("visit", record.model_dump_json().encode())
                if not self.transport.publish_confirmed(visit_topic(self.store_id), signed, CONFIRM_SECONDS):
                    log.warning("the store broker did not acknowledge a visit; sent again next round")
                    break
                self.sent += 1
            events.set_cursor(CURSOR, arrival.seq)
            passed += 1
        return passed

    def _record(self, payload: dict[str, str], taken: tuple[str, str] | None) -> VisitRecord | None:
        """The visit of one arrival, or None when the member's consent does not cover sharing it."""
        member_id = payload["member_id"]
        consent = self.services.gallery().templates.consent(member_id)
        if not shares_visits(consent, unknown=False):
            return None
        start = payload["ts"]
        end = iso(parse_ts(start) + self.window)
        count, spent = self.services.books.commerce.spent(member_id, self.store_id, start, end, self.currency)
        return VisitRecord(
            visit_id=payload["event_id"],
            store_id=self.store_id,
            camera_id=payload["camera_id"],
            member_id=member_id,
            arrived_at=start,
            window_minutes=int(self.window.total_seconds() // 60),
            served_by=taken[0] if taken else None,
            served_at=taken[1] if taken else None,
            bought=count > 0,
            spent_minor=spent,
            currency=self.currency if count else None,
        )
