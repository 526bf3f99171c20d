"""The store API served from a thread (uvicorn), with its MQTT ingest: for the demo and the benchmark."""

from __future__ import annotations

import logging
import threading
import time

from api.app import create_app
from api.ingest import Ingest
from api.services import Services
from api.store import EventStore
from storelens.config import Config

log = logging.getLogger(__name__)


def wire(config: Config) -> tuple[Services, Ingest]:
    """The API's shared state and its MQTT ingest, which stores each event and pushes it to the iPads."""
    services = Services(config, EventStore(config.api.database_url))
    ingest = Ingest(services.store, config.mqtt, config.store.id, on_new=services.push)
    services.mqtt_subscribed = ingest.transport.subscribed
    return services, ingest


class ApiThread:
    """The store API (uvicorn) in a thread, with its MQTT ingest."""

    def __init__(self, config: Config) -> None:
        import uvicorn

        self.services, self.ingest = wire(config)
        app = create_app(self.services, f"StoreLens demo ({config.store.id})")
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=config.api.port, log_level="warning",
                                                    timeout_graceful_shutdown=2))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    def start(self) -> None:
        """Serve and ingest."""
        self.ingest.start()
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        # events published before the first subscription would not reach the API: wait for it
        if not self.ingest.transport.subscribed.wait(max(0.0, deadline - time.monotonic())):
            log.warning("the API's MQTT ingest is not subscribed yet; it goes on connecting in the background")

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self.thread.join(10)
        self.ingest.stop()
        self.services.close()
