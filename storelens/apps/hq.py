"""The head-office process, wired in one place: the chain's database and the ingest of every store's events.

Start steps, in order: open the database (PostgreSQL in production, migrated like a store's); connect to
the central broker with a persistent session (a shared subscription when ``shared_group`` is set) and
subscribe to every store's topics; run until SIGTERM or Ctrl-C. ``stop()`` undoes them in reverse.

Every store's events arrive over the store brokers' Mosquitto bridges. The ingest is the store API's
(``storelens.api.ingest``): the same validation, a payload whose store id differs from its topic's is
refused, and every event is stored once whatever the bridges redeliver (deduplicated by ``event_id``).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from storelens.api.ingest import Ingest
from storelens.api.store import EventStore
from storelens.config import HqConfig
from storelens.edge.mqtt import MqttTransport

log = logging.getLogger(__name__)


class HqApp:
    """Every store's events into the chain's database.

    Args:
        config: the head-office configuration.
    """

    def __init__(self, config: HqConfig) -> None:
        self.config = config
        self.store = EventStore(config.database_url)
        self.transport = MqttTransport(config.mqtt, f"storelens-hq-{config.id}"[:64], persistent_session=True)
        self.ingest = Ingest(self.store, self.transport, "+", shared_group=config.shared_group)
        self._stop = threading.Event()

    def start(self, wait_seconds: float = 15.0) -> bool:
        """Connect and subscribe in the background; True once the broker has acknowledged the subscription."""
        self.ingest.start()
        return self.transport.wait_subscribed(wait_seconds)

    def serve(self) -> None:
        """Run until SIGTERM or Ctrl-C (``storelens hq serve``), then stop cleanly."""
        previous = {sig: signal.signal(sig, self._stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if not self.start():
                log.warning("the central broker has not acknowledged the subscription yet; still trying")
            self._stop.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def _stopped(self, signum: int, frame: Any) -> None:
        log.info("stopping on signal %d", signum)
        self._stop.set()

    def stop(self) -> None:
        """Disconnect, then close the database."""
        self.ingest.stop()
        self.store.close()
