"""The head-office process, wired in one place: every store's events and statuses in, members and erasures out.

Start steps, in order: open the database (PostgreSQL in production, migrated like a store's) and the member
registry; head office's signing keys (made on first start); housekeeping (events partitioned by month on PostgreSQL,
history past its retention deleted, then hourly); connect to the central broker with a persistent session (a shared
subscription when ``shared_group`` is set) and subscribe to every store's events, and to its box's signed receipts,
member reports, visits and camera statuses (with ``ingest.queue = "rabbitmq"`` the events come instead from
RabbitMQ's durable quorum queue over AMQP, shared by every worker: ``storelens.transport.amqp``); roll up the stored
footfall every few seconds (reports read the rollups); start the distributor, which acts on the boxes' member
reports and sends pending member changes and erasures, again every ``chase_seconds`` until each box has confirmed;
serve the chain API (``api.host``/``api.port``); run until SIGTERM or Ctrl-C. ``stop()`` undoes them in reverse.

Every store's events arrive over the store brokers' Mosquitto bridges. The ingest is the store API's
(``storelens.books.ingest``): the same validation, a payload whose store id differs from its topic's is refused, and
every event is stored once whatever the bridges redeliver (deduplicated by ``event_id``).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from storelens.books.ingest import Ingest
from storelens.chain_messages import receipt_topic, report_topic, status_topic, visit_topic
from storelens.config import HqConfig
from storelens.hq.access import HqServices
from storelens.hq.box_messages import BoxMessages
from storelens.hq.chain_reports import ChainReports
from storelens.hq.crm import CrmOutbox, CrmWebhook
from storelens.hq.database import open_database
from storelens.hq.distributor import Distributor
from storelens.hq.housekeeping import Housekeeping
from storelens.hq.keys import HqKeys
from storelens.hq.registry import seen_stores
from storelens.hq.rollups import RollupWorker
from storelens.hq.web import create_hq_app
from storelens.transport.amqp import AmqpQueue
from storelens.transport.mqtt import MqttTransport
from storelens.web.serving import Served
from storelens.workers import stop_in_order

log = logging.getLogger(__name__)


class HqApp:
    """Every store's events into the chain's database; members and erasures out to the boxes.

    Args:
        config: the head-office configuration.
    """

    def __init__(self, config: HqConfig) -> None:
        self.config = config
        # the member platform's key before anything is opened or made: a bad one is one line, nothing half-started
        crm_secret = config.crm.secret() if config.crm.webhook_url is not None else b""
        self.database = open_database(config.database_url)
        self.events, self.members = self.database.events, self.database.members
        self.transport = MqttTransport(
            config.mqtt, f"storelens-hq-{config.id}"[:64], persistent_session=True, manual_ack=True
        )
        self.queue: AmqpQueue | None = None  # RabbitMQ's quorum queue, when events come from it
        if config.ingest.queue == "rabbitmq":
            prefetch = 2 * config.ingest.batch  # one batch being written while the next arrives
            self.queue = AmqpQueue(config.ingest.amqp_url, config.mqtt, config.ingest.queue_name, prefetch)
            self.ingest = Ingest(self.events, self.queue, "+", batch=config.ingest.batch)
        else:
            self.ingest = Ingest(
                self.events, self.transport, "+", shared_group=config.shared_group, batch=config.ingest.batch
            )
        self.keys = HqKeys(Path(config.signing_keys_file))  # every change it sends is signed
        self.distributor = Distributor(
            self.members, self.transport, config.chase_seconds, self.keys, known=self._known_stores
        )
        self.transport.subscribe(receipt_topic(), self.distributor.on_receipt)
        self.transport.subscribe(report_topic(), self.distributor.on_report)  # the boxes' own member changes
        self.crm = CrmOutbox(self.events.engine)  # members' visits for the chain's member platform
        # visits and statuses, signed by their box, acknowledged to the broker once kept (the database may be away)
        self.box_messages = BoxMessages(self.members, self.crm, self.events.engine, self.distributor.box_keys)
        self.transport.subscribe_acked(visit_topic(), self.box_messages.take)
        self.transport.subscribe_acked(status_topic(), self.box_messages.take)
        rules = config.privacy_rules()
        reports = ChainReports(self.events, {s.id: s for s in config.stores}, config.currency)
        self.rollups = RollupWorker(reports.rollups, reports.zones)  # reports read rollups, not raw events
        self.housekeeping = Housekeeping(
            self.events, config.partition_by_month, rules.event_retention_days, rollups=reports.rollups
        )
        crm = config.crm
        self.webhook: CrmWebhook | None = None
        if crm.webhook_url is not None or crm.export_dir is not None:
            self.webhook = CrmWebhook(
                self.crm,
                crm.webhook_url,
                crm_secret,
                crm.timeout_seconds,
                crm.max_backoff_seconds,
                Path(crm.export_dir) if crm.export_dir is not None else None,
                rules.event_retention_days,
            )
        self._stop = threading.Event()
        tokens = self.database.tokens
        services = HqServices(config, self.events, tokens, self.members, reports, self.transport.subscribed, self.crm)
        self.app = create_hq_app(services)
        self.server: Served | None = None

    def _known_stores(self) -> list[str]:
        """The configured stores and every store whose events have arrived (chain-scope members go to all)."""
        return sorted({s.id for s in self.config.stores} | set(seen_stores(self.events.engine)))

    def start(self, wait_seconds: float = 15.0) -> bool:
        """Connect and subscribe in the background, start distributing, serve the chain API; True once subscribed."""
        self.housekeeping.start()
        self.box_messages.start()
        self.ingest.start()
        if self.queue is not None:  # the ingest started the queue; receipts and statuses still come over MQTT
            self.transport.start()
        self.rollups.start()
        self.distributor.start()
        if self.webhook is not None:
            self.webhook.start()
        if self.config.api.enabled:
            self.server = Served(self.app, self.config.api.host, self.config.api.port, name="chain-api")
            self.server.start(0.0)
        subscribed = self.transport.wait_subscribed(wait_seconds)
        return subscribed and (self.queue is None or self.queue.wait_subscribed(wait_seconds))

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
                ("the member platform's webhook", self.webhook.stop if self.webhook is not None else lambda: None),
                ("the distributor", self.distributor.stop),
                ("the boxes' visits and statuses", self.box_messages.stop),
                ("the ingest", self.ingest.stop),
                ("the central broker", self.transport.stop if self.queue is not None else lambda: None),
                ("rollups", self.rollups.stop),
                ("housekeeping", self.housekeeping.stop),
                ("the database", self.database.close),
            ]
        )
