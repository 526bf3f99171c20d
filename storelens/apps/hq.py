"""The head-office process, wired in one place: every store's events and statuses in, members and erasures out.

Start steps, in order: open the database (PostgreSQL in production, migrated like a store's) and the member
registry; housekeeping (events partitioned by month on PostgreSQL, history past its retention deleted, then
hourly); connect to the central broker with a persistent session (a shared subscription when
``shared_group`` is set) and subscribe to every store's events, statuses and receipts; start the
distributor, which sends pending member changes and erasures and sends them again every ``chase_seconds``
until each box has confirmed; serve the chain API (``api.host``/``api.port``); run until SIGTERM or
Ctrl-C. ``stop()`` undoes them in reverse.

Every store's events arrive over the store brokers' Mosquitto bridges. The ingest is the store API's
(``storelens.api.ingest``): the same validation, a payload whose store id differs from its topic's is
refused, and every event is stored once whatever the bridges redeliver (deduplicated by ``event_id``).
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from storelens.api.chain_members import ChainMembers, record_status
from storelens.api.chain_reports import ChainReports
from storelens.api.hq.app import create_hq_app
from storelens.api.hq.auth import HqServices
from storelens.api.ingest import Ingest
from storelens.api.partitions import drop_months_before, partition_by_month
from storelens.api.store import EventStore
from storelens.bounds import MAX_PAYLOAD_BYTES
from storelens.chain import BoxReceipt, command_topic, receipt_topic
from storelens.clock import utc_now
from storelens.config import HqConfig
from storelens.edge.mqtt import MqttTransport
from storelens.errors import DatabaseError
from storelens.events import StatusEvent, parse_topic, topic_filter
from storelens.transport import Transport
from storelens.workers import Periodic

log = logging.getLogger(__name__)
SEND_BATCH = 500  # changes read from the registry and published per round trip; receipts recorded per commit
MAX_RECEIPTS = 200_000  # receipts waiting to be recorded
INGEST_BATCH = 1000  # events stored per transaction, each acknowledged to the broker after the commit
TICK_SECONDS = 0.25  # how often the registry is asked what is due (an indexed query on the pending state)


def _open_database(url: str, tries: int = 5) -> tuple[EventStore, ChainMembers]:
    """The chain's database and registry.

    Several ``hq serve`` starting at once on an empty database race to create the same tables: the loser
    waits and opens what the winner made.
    """
    for attempt in range(tries):
        store: EventStore | None = None
        try:
            store = EventStore(url)
            return store, ChainMembers(store.engine)
        except (DatabaseError, SQLAlchemyError) as exc:
            if store is not None:
                store.close()
            racing = "already exists" in str(exc) or "duplicate key" in str(exc)
            if attempt == tries - 1 or not racing:
                raise
            log.info("another head-office process is creating the tables; retrying")
            time.sleep(1.0 + attempt)
    raise DatabaseError(f"{url}: the chain's tables could not be created")  # not reached: the loop raises


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

    def received(self, receipt: BoxReceipt) -> None:
        """Queue a box's receipt; recorded with the others of its round in one transaction."""
        try:
            self._receipts.put_nowait(receipt)
        except queue.Full:  # the change stays pending: it is sent again and answered again
            log.warning("receipt %s dropped: %d waiting to be recorded", receipt.receipt_id, MAX_RECEIPTS)

    def record_receipts(self) -> int:
        """Record every queued receipt (in batches of ``SEND_BATCH``); returns how many matched a change."""
        matched = 0
        while True:
            batch: list[BoxReceipt] = []
            while len(batch) < SEND_BATCH:
                try:
                    batch.append(self._receipts.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                break
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


class Housekeeping(Periodic):
    """Monthly partitions ready ahead (PostgreSQL) and event history past its retention gone: at start, then hourly.

    Args:
        store: head office's event database.
        partition: partition ``events`` by month (PostgreSQL only).
        event_days: the privacy profile's event retention.
        every: seconds between two rounds.
    """

    def __init__(self, store: EventStore, partition: bool, event_days: int, every: float = 3600.0) -> None:
        super().__init__("housekeeping", every, retry_on=(SQLAlchemyError,))
        self.store, self.partition, self.event_days = store, partition, event_days

    def tick(self) -> None:
        """One round now."""
        now = utc_now()
        if self.partition:
            partition_by_month(self.store.engine, now)
        cutoff = now - timedelta(days=self.event_days)
        dropped = drop_months_before(self.store.engine, cutoff)
        gone = self.store.purge_events(self.event_days)
        if dropped or gone:
            log.info("retention: dropped %d monthly partition(s) and %d event(s)", len(dropped), gone)

    def start(self) -> None:
        """A round now (a failure here stops the start: the database is unusable), then in the background."""
        self.tick()
        super().start()


class HqApp:
    """Every store's events into the chain's database; members and erasures out to the boxes.

    Args:
        config: the head-office configuration.
    """

    def __init__(self, config: HqConfig) -> None:
        self.config = config
        self.store, self.members = _open_database(config.database_url)
        self.transport = MqttTransport(
            config.mqtt, f"storelens-hq-{config.id}"[:64], persistent_session=True, manual_ack=True
        )
        self.ingest = Ingest(self.store, self.transport, "+", shared_group=config.shared_group, batch=INGEST_BATCH)
        self.transport.subscribe(receipt_topic(), self._on_receipt)
        self.transport.subscribe(topic_filter("+", "+", "status"), self._on_status)
        self.distributor = Distributor(self.members, self.transport, config.chase_seconds)
        rules = config.enrolment_config().privacy_rules()
        self.housekeeping = Housekeeping(self.store, config.partition_by_month, rules.event_retention_days)
        self._stop = threading.Event()
        reports = ChainReports(self.store, {s.id: s for s in config.stores}, config.currency)
        services = HqServices(config, self.store, self.members, reports, self.transport.subscribed)
        self.app = create_hq_app(services)
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def _refuse(self, topic: str, why: str) -> None:
        log.warning("refused a message on %s: %s", topic[:200], why[:300])

    def _on_receipt(self, topic: str, payload: bytes) -> None:
        store_id = topic.split("/")[2]
        if len(payload) > MAX_PAYLOAD_BYTES:
            self._refuse(topic, f"{len(payload)} bytes")
            return
        try:
            receipt = BoxReceipt.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            self._refuse(topic, f"{'.'.join(str(p) for p in first['loc']) or 'payload'}: {first['msg']}")
            return
        if receipt.store_id != store_id:
            self._refuse(topic, f"a receipt of store {receipt.store_id} under store {store_id}'s topic")
            return
        self.distributor.received(receipt)

    def _on_status(self, topic: str, payload: bytes) -> None:
        try:
            store_id, camera_id, _ = parse_topic(topic)
            if camera_id.startswith("_") or len(payload) > MAX_PAYLOAD_BYTES:
                return
            status = StatusEvent.model_validate_json(payload)
        except (ValueError, ValidationError) as exc:
            self._refuse(topic, str(exc).splitlines()[0])
            return
        if (status.store_id, status.camera_id) != (store_id, camera_id):
            self._refuse(topic, "the status names another store or camera than its topic")
            return
        record_status(self.store.engine, status)

    def start(self, wait_seconds: float = 15.0) -> bool:
        """Connect and subscribe in the background, start distributing, serve the chain API; True once subscribed."""
        self.housekeeping.start()
        self.ingest.start()
        self.distributor.start()
        if self.config.api.enabled:
            import uvicorn  # only where the API is served

            api = self.config.api
            self.server = uvicorn.Server(
                uvicorn.Config(self.app, host=api.host, port=api.port, log_level="warning", timeout_graceful_shutdown=3)
            )
            self.thread = threading.Thread(target=self.server.run, name="chain-api", daemon=True)
            self.thread.start()
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
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
            self.thread = None
        self.distributor.stop()
        self.ingest.stop()
        self.housekeeping.stop()
        self.store.close()
