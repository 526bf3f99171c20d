"""The store API process, wired in one place: the books, services, MQTT ingest, the app, uvicorn.

Start steps, in order: open the books; build the services (face models and gallery load on first
use); connect the ingest and subscribe (the store's events, and head office's member changes for the chain
agent); start the chain agent, the visit reporter (members' closed visits up to head office), the retention and
insights workers; serve. ``stop()`` undoes them in reverse.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from storelens.api.app import create_app
from storelens.api.books import StoreBooks
from storelens.api.box_chain_agent import BoxChainAgent, chain_keyring
from storelens.api.insights import InsightsBuilder, InsightsWorker
from storelens.api.services import Services
from storelens.api.visit_reporter import VisitReporter
from storelens.apps.faces import load_face_models
from storelens.books.ingest import Ingest, ingest_transport
from storelens.config import Config
from storelens.edge_events import StatusEvent
from storelens.errors import ConfigError, StoreLensError
from storelens.gallery.factory import open_gallery
from storelens.gallery.gallery import Gallery
from storelens.i18n import Translator
from storelens.manifest import load_manifest
from storelens.web.serving import Served
from storelens.workers import Periodic, stop_in_order

log = logging.getLogger(__name__)
RETENTION_EVERY_SECONDS = 3600.0
INSIGHTS_EVERY_SECONDS = 6 * 3600.0  # and after every import through the API


class RetentionWorker(Periodic):
    """Deletes what the privacy rules say is kept no longer: event history and the access log.

    Runs once at start, then every ``every`` seconds, in its own thread (a database error is logged as one
    line and retried next time: it must not stop the API).

    Args:
        books: the store's books (events and the access log are purged).
        event_days: ``PrivacyRules.event_retention_days``.
        access_log_days: ``PrivacyRules.access_log_days``.
        every: seconds between two purges.
    """

    def __init__(self, books: StoreBooks, event_days: int, access_log_days: int, every: float) -> None:
        super().__init__("retention", every, first_now=True, retry_on=(SQLAlchemyError,))
        self.books, self.event_days, self.access_log_days = books, event_days, access_log_days

    def purge(self) -> tuple[int, int]:
        """One purge now; returns (events, access-log entries) deleted."""
        gone = self.books.events.purge_events(self.event_days), self.books.access.purge_access_log(self.access_log_days)
        if any(gone):
            log.info("retention: deleted %d event(s) and %d access-log entr(ies) past their period", *gone)
        return gone

    def tick(self) -> None:
        """One purge."""
        self.purge()


class _Stop(Exception):
    """SIGTERM arrived: the server has shut down; end the run."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stop


def open_store_gallery(config: Config) -> Gallery:
    """The store's gallery for the configured pack's recogniser."""
    return open_gallery(config, load_manifest().recogniser_of(config.models.pack))


def build_services(config: Config, books: StoreBooks) -> Services:
    """The API's shared state, with the face models and the gallery loaded on first use."""
    services = Services(
        config, books, face_models=lambda: load_face_models(config), gallery=lambda: open_store_gallery(config)
    )
    services.snapshot = lambda camera_id, tr: camera_snapshot(config, services, camera_id, tr)
    return services


def camera_snapshot(config: Config, services: Services, camera_id: str, tr: Translator) -> bytes:
    """A frame of the camera with its region, entry line, minimum face size and verdict drawn (PNG), in ``tr``'s words.

    Raises:
        StoreLensError: the camera gives no frame, or its geometry lies outside it.
    """
    from pydantic import ValidationError

    from storelens.calibration.camera import gating_note, snapshot

    camera = next(c for c in config.cameras if c.id == camera_id)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "snapshot.png"
        try:
            note = gating_note(config.edge, tr)
            snapshot(camera, services.face_models(), config.min_face_px_for(camera), out, 0.0, note, tr)
        except ValidationError as exc:
            raise StoreLensError(f"cameras[{camera_id}]: the region or the entry line lies outside the frame") from exc
        return out.read_bytes()


class ApiApp:
    """The store API and its MQTT ingest.

    Args:
        config: the whole configuration.
        title: the OpenAPI title.
        port: overrides ``api.port``.
    """

    def __init__(self, config: Config, title: str | None = None, port: int | None = None) -> None:
        self.config = config
        self.port = port or config.api.port
        self.services = build_services(config, StoreBooks(config.api.database_url))
        transport = ingest_transport(config.mqtt, config.store.id)
        self.ingest = Ingest(
            self.services.books.events,
            transport,
            config.store.id,
            on_new=self.services.push,
            on_status=self._on_status,
        )
        self.services.mqtt_subscribed = transport.subscribed
        self.chain = BoxChainAgent(  # head office's member changes, signed
            self.services,
            transport,
            config.store.id,
            chain_keyring(config),
            Path(config.chain.key_file),
            resend_seconds=config.chain.report_resend_seconds,
        )
        self.visits = VisitReporter(  # members' closed visits, for the chain's member platform
            self.services,
            transport,
            config.store.id,
            config.chain.visit_minutes,
            config.store.currency,
            self.chain.signer,
        )
        rules = config.privacy_rules()
        self.retention = RetentionWorker(
            self.services.books, rules.event_retention_days, rules.access_log_days, RETENTION_EVERY_SECONDS
        )
        self.insights = InsightsWorker(
            InsightsBuilder(self.services.books.engine, config.store.currency), INSIGHTS_EVERY_SECONDS
        )
        self.services.after_import = self.insights.poke
        self.app = create_app(self.services, title or f"StoreLens store API ({config.store.id})")
        self.server: Served | None = None

    def _on_status(self, status: StatusEvent) -> None:
        """A configured camera's status from the store broker: kept for the console, sent on to head office, signed."""
        if self.services.note_status(status):
            self.chain.send_status(status)

    def _server(self, host: str) -> Served:
        api = self.config.api
        for name in ("tls_cert_file", "tls_key_file"):
            given = getattr(api, name)
            if given and not Path(given).is_file():
                raise ConfigError(f"api.{name}: {given} does not exist")
        return Served(self.app, host, self.port, ssl_certfile=api.tls_cert_file, ssl_keyfile=api.tls_key_file)

    def serve(self) -> None:
        """Ingest and serve in the foreground until SIGTERM or Ctrl-C (``storelens api serve``); then stop cleanly.

        Raises:
            ConfigError: another ``api serve`` for this store runs on this machine (they would take each
                other's place on the broker), or the TLS files are missing.
        """
        lock = self._single_instance()
        self.ingest.start()
        self.chain.start()
        self.visits.start()
        self.retention.start()
        self.insights.start()
        self.server = self._server(self.config.api.host)
        # uvicorn shuts down gracefully on SIGTERM, then raises the signal again to the handler it found:
        # ours ends the run here, so that stop() runs and the exit status is 0 (systemd: a clean stop).
        previous = signal.signal(signal.SIGTERM, _stopped)
        try:
            self.server.run()
        except _Stop:
            log.info("stopped by SIGTERM")
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stop()
            lock.close()

    def _single_instance(self) -> Any:
        """An exclusive lock per store on this machine, held while serving."""
        path = Path(tempfile.gettempdir()) / f"storelens-api-{self.config.store.id}.lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            other = handle.read().strip() or "?"
            handle.close()
            raise ConfigError(
                f"another `storelens api serve` for store {self.config.store.id} runs on this machine "
                f"(pid {other}); two would take each other's place on the broker: stop it first"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle

    def start(self, wait_seconds: float = 15.0) -> None:
        """Ingest and serve on 127.0.0.1 from a thread (demo, benchmark); returns once both are up."""
        self.ingest.start()
        self.chain.start()
        self.visits.start()
        self.retention.start()
        self.insights.start()
        self.server = self._server("127.0.0.1")
        deadline = time.monotonic() + wait_seconds
        self.server.start(wait_seconds)
        # events published before the first subscription would not reach the API: wait for it
        if not self.ingest.transport.wait_subscribed(max(0.0, deadline - time.monotonic())):
            log.warning("the API's MQTT ingest is not subscribed yet; it goes on connecting in the background")

    def stop(self) -> None:
        """Stop serving, disconnect the ingest, close the gallery and the database (reverse order)."""
        stop_in_order(
            [
                ("the API", self.server.stop if self.server is not None else lambda: None),
                ("insights", self.insights.stop),
                ("retention", self.retention.stop),
                ("visits", self.visits.stop),
                ("the chain agent", self.chain.stop),
                ("the ingest", self.ingest.stop),
                ("the gallery and the database", self.services.close),
            ]
        )
