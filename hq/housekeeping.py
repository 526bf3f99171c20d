"""Head office's housekeeping: monthly partitions made ahead (PostgreSQL), event history past its retention gone."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from storelens.books.event_log import EventLog
from storelens.clock import iso, utc_now
from storelens.hq.partitions import drop_months_before, partition_by_month
from storelens.hq.rollups import Rollups
from storelens.workers import Periodic

log = logging.getLogger(__name__)


class Housekeeping(Periodic):
    """Monthly partitions ready ahead (PostgreSQL) and event history past its retention gone: at start, then hourly.

    Args:
        events: head office's event log.
        partition: partition ``events`` by month (PostgreSQL only).
        event_days: the privacy profile's event retention.
        every: seconds between two rounds.
        rollups: the footfall rollups, purged with the events.
    """

    def __init__(
        self, events: EventLog, partition: bool, event_days: int, every: float = 3600.0, rollups: Rollups | None = None
    ) -> None:
        super().__init__("housekeeping", every, retry_on=(SQLAlchemyError,))
        self.events, self.partition, self.event_days, self.rollups = events, partition, event_days, rollups

    def tick(self) -> None:
        """One round now."""
        now = utc_now()
        if self.partition:
            partition_by_month(self.events.engine, now)
        cutoff = now - timedelta(days=self.event_days)
        dropped = drop_months_before(self.events.engine, cutoff)
        gone = self.events.purge_events(self.event_days)
        if self.rollups is not None:  # the rollups keep no longer than the events they sum
            self.rollups.purge(iso(cutoff))
        if dropped or gone:
            log.info("retention: dropped %d monthly partition(s) and %d event(s)", len(dropped), gone)

    def start(self) -> None:
        """A round now (a failure here stops the start: the database is unusable), then in the background."""
        self.tick()
        super().start()
