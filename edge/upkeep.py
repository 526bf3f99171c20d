"""The edge's periodic upkeep beside its cameras: delivery from the outbox, and the members' retention purge."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from storelens.edge.publisher import CameraPublisher
from storelens.workers import Periodic

log = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 6 * 3600
DELIVER_EVERY = 0.02  # seconds between two delivery rounds


class Members(Protocol):
    """What the upkeep needs of the store's gallery (``storelens.gallery.gallery.Gallery``, a sibling of edge)."""

    def refresh(self) -> Any:
        """Reload when another process changed the members."""
        ...

    def purge_expired(self, days: int) -> Iterable[Any]:
        """Erase the members not seen for ``days``; a receipt each (with its ``at``)."""
        ...


class Delivery(Periodic):
    """Every camera's outbox onto the broker, and the gallery's changes in, every ``DELIVER_EVERY`` seconds.

    It outlives the cameras: their last events still go out.

    Args:
        publishers: one per camera.
        gallery: the store's members (reloaded when another process changed them).
    """

    def __init__(self, publishers: list[CameraPublisher], gallery: Members) -> None:
        super().__init__("deliver", DELIVER_EVERY)
        self.publishers, self.gallery = publishers, gallery

    def tick(self) -> None:
        """One round: pump each publisher, then look for gallery changes."""
        for pub in self.publishers:
            pub.pump()
        self.gallery.refresh()


class MemberRetention(Periodic):
    """Members not seen for the privacy profile's period erased from the gallery: at start, then periodically.

    Args:
        gallery: the store's members.
        days: ``PrivacyRules.member_retention_days``.
        every: seconds between two purges.
    """

    def __init__(self, gallery: Members, days: int, every: float = PURGE_EVERY_SECONDS) -> None:
        super().__init__("member-retention", every, first_now=True, retry_on=(Exception,))  # retried next round
        self.gallery, self.days = gallery, days

    def tick(self) -> None:
        """One purge now."""
        for receipt in self.gallery.purge_expired(self.days):
            log.info("retention purge: erased a member not seen for %d days at %s", self.days, receipt.at)
