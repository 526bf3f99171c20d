"""A FastAPI app served by uvicorn, in the foreground or from a thread: the store API, head office and the tests."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)


class Served:
    """One uvicorn server for one app (uvicorn is imported only here, where an app is served).

    Args:
        app: the ASGI app.
        host: address to listen on.
        port: port to listen on.
        name: the serving thread's name.
        options: further ``uvicorn.Config`` settings (TLS files, logging).
    """

    def __init__(self, app: Any, host: str, port: int, name: str = "api", **options: Any) -> None:
        import uvicorn

        settings: dict[str, Any] = {"log_level": "warning", "timeout_graceful_shutdown": 3} | options
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **settings))
        self.name = name
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve in the foreground until the server exits (it handles SIGTERM and Ctrl-C itself)."""
        self.server.run()

    def start(self, wait_seconds: float = 15.0) -> bool:
        """Serve from a thread; True once the server listens (False after ``wait_seconds``)."""
        self.thread = threading.Thread(target=self.server.run, name=self.name, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + wait_seconds
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return bool(self.server.started)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
            self.thread = None
