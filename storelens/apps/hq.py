"""The head-office process, wired in one place: every store's events and statuses in, members and erasures out.

Start steps, in order: open the database (PostgreSQL in production, migrated like a store's) and the member
registry; head office's signing keys (made on first start); housekeeping (events partitioned by month on
PostgreSQL, history past its retention deleted, then hourly); connect to the central broker with a persistent
session (a shared subscription when ``shared_group`` is set) and subscribe to every store's events, statuses and
receipts; roll up the stored footfall every few seconds (reports read the rollups); start the distributor, which
sends pending member changes and erasures and sends them again every ``chase_seconds`` until each box has
confirmed; serve the chain API (``api.host``/``api.port``); run until SIGTERM or Ctrl-C. ``stop()`` undoes them in
reverse.

Every store's events arrive over the store brokers' Mosquitto bridges. The ingest is the store API's
(``storelens.api.ingest``): the same validation, a payload whose store id differs from its topic's is refused, and
every event is stored once whatever the bridges redeliver (deduplicated by ``event_id``).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from storelens.api.ingest import Ingest
from storelens.api.serving import Served
from storelens.chain import receipt_topic
from storelens.config import HqConfig
from storelens.errors import PayloadError
from storelens.events import StatusEvent, parse_payload, parse_topic, topic_filter
from storelens.hq.access import HqServices
from storelens.hq.chain_reports import ChainReports
from storelens.hq.database import open_database
from storelens.hq.distributor import Distributor
from storelens.hq.housekeeping import Housekeeping
from storelens.hq.keys import HqKeys
from storelens.hq.registry import record_status
from storelens.hq.rollups import RollupWorker
from storelens.hq.web import create_hq_app
from storelens.transport import MqttTransport
from storelens.workers import stop_in_order

log = logging.getLogger(__name__)
INGEST_BATCH = 1000  # events stored per transaction, each acknowledged to the broker after the commit


class HqApp:
    """Every store's events into the chain's database; members and erasures out to the boxes.

    Args:
        config: the head-office configuration.
    """

    def __init__(self, config: HqConfig) -> None:
        self.config = config
        self.database = open_database(config.database_url)
        self.store, self.members = self.database.events, self.database.members
        self.transport = MqttTransport(
            config.mqtt, f"storelens-hq-{config.id}"[:64], persistent_session=True, manual_ack=True
        )
        self.ingest = Ingest(self.store, self.transport, "+", shared_group=config.shared_group, batch=INGEST_BATCH)
        self.keys = HqKeys(Path(config.signing_keys_file))  # every change it sends is signed
        self.distributor = Distributor(self.members, self.transport, config.chase_seconds, self.keys)
        self.transport.subscribe(receipt_topic(), self.distributor.on_receipt)
        self.transport.subscribe(topic_filter("+", "+", "status"), self._on_status)
        rules = config.privacy_rules()
        reports = ChainReports(self.store, {s.id: s for s in config.stores}, config.currency)
        self.rollups = RollupWorker(reports.rollups, reports.zones)  # reports read rollups, not raw events
        self.housekeeping = Housekeeping(
            self.store, config.partition_by_month, rules.event_retention_days, rollups=reports.rollups
        )
        self._stop = threading.Event()
        tokens = self.database.tokens
        services = HqServices(config, self.store, tokens, self.members, reports, self.transport.subscribed)
        self.app = create_hq_app(services)
        self.server: Served | None = None

    def _on_status(self, topic: str, payload: bytes) -> None:
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
        record_status(self.store.engine, status)

    def start(self, wait_seconds: float = 15.0) -> bool:
        """Connect and subscribe in the background, start distributing, serve the chain API; True once subscribed."""
        self.housekeeping.start()
        self.ingest.start()
        self.rollups.start()
        self.distributor.start()
        if self.config.api.enabled:
            self.server = Served(self.app, self.config.api.host, self.config.api.port, name="chain-api")
            self.server.start(0.0)
        return self.transport.wait_subscribed(wait_seconds)

    def serve(self) -> None:
        """Run until SIGTERM or Ctrl-C (``storelens hq serve``), then stop cleanly."""
        previous = {sig: signal.signal(sig, self._stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if self.start():
                log.info("subscribed to every store's events at %s", self.config.mqtt.url)
            else:
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
        """Stop serving and distributing, disconnect, then close the database."""
        stop_in_order(
            [
                ("the chain API", self.server.stop if self.server is not None else lambda: None),
                ("the distributor", self.distributor.stop),
                ("the ingest", self.ingest.stop),
                ("rollups", self.rollups.stop),
                ("housekeeping", self.housekeeping.stop),
                ("the database", self.database.close),
            ]
        )
