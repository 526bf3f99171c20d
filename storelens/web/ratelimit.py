"""Failed-token attempts per client: logged, and refused for a while once too many.

A few lines instead of a rate-limit library: only failures count (a valid token is never slowed), and
the window is per client address, bounded in memory (the oldest clients are forgotten first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque

log = logging.getLogger(__name__)


class FailedTokens:
    """Counts refused tokens per client within a sliding window.

    Args:
        limit: failures allowed per client within ``window`` seconds; more are answered 429.
        window: seconds.
        clients: most clients remembered at once.
    """

    def __init__(self, limit: int = 10, window: float = 60.0, clients: int = 10_000) -> None:
        self.limit, self.window, self.clients = limit, window, clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        self._seen.move_to_end(client)
        while times and times[0] <= now - self.window:
            times.popleft()
        while len(self._seen) > self.clients:
            self._seen.popitem(last=False)
        return times

    def blocked_for(self, client: str) -> float:
        """Seconds ``client`` must wait before its next attempt (0 when it may try)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            return max(0.0, times[0] + self.window - now) if len(times) >= self.limit else 0.0

    def failed(self, client: str, why: str) -> None:
        """Record a refused attempt, and log it (never the token itself)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            times.append(now)
            count = len(times)
        log.warning("refused a request from %s: %s (%d in the last %.0f s)", client, why, count, self.window)
