"""Live push to every connected iPad: a hub that fans messages out to WebSocket clients.

The MQTT ingest runs in paho's thread; it hands messages to the server's event loop, which puts them
on each client's queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class LiveHub:
    """Fan-out of live messages (new arrivals, "taken" updates) to connected clients."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._clients: set[asyncio.Queue[dict[str, Any]]] = set()
        self._lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the server's event loop (at startup)."""
        self.loop = loop

    def connect(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue for a new client (call from the event loop)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        with self._lock:
            self._clients.add(queue)
        return queue

    def disconnect(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Forget a client."""
        with self._lock:
            self._clients.discard(queue)

    def publish(self, message: dict[str, Any]) -> None:
        """Send to every client; safe from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._fan_out, message)

    def _fan_out(self, message: dict[str, Any]) -> None:
        with self._lock:
            clients = list(self._clients)
        for queue in clients:
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # a stuck client: it will replay from its last seq on reconnect
                log.warning("a live client is not reading; dropping a message for it")

    def __len__(self) -> int:
        return len(self._clients)
