"""The store API served by a real uvicorn on a free loopback port, in a thread, for HTTP and WebSocket tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from storelens.web.serving import Served
from tests.helpers.services import free_port


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app``; yields its base URL (``http://127.0.0.1:PORT``). Logs propagate to the root logger."""
    port = free_port()
    served = Served(app, "127.0.0.1", port, name="test-api", log_config=None, log_level="info")
    served.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.stop()
