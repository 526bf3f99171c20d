"""One background worker shape for every long-running loop: ``while not stop.wait(every): tick()``.

Written here because the standard library's ``threading.Timer`` runs once and ``sched`` blocks its caller:
a 24/7 process needs a loop that stops promptly, survives a failing round (logged as one line, retried next
round) and runs a last round on stop.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Periodic:
    """Calls :meth:`tick` every ``every`` seconds in its own thread until :meth:`stop`.

    Args:
        name: the thread's name (and the log's).
        every: seconds between two rounds.
        first_now: run a round as soon as the thread starts, before the first wait.
        retry_on: exceptions of a round that are logged and retried next round (others end the loop).
    """

    def __init__(
        self, name: str, every: float, first_now: bool = False, retry_on: tuple[type[Exception], ...] = ()
    ) -> None:
        self.name, self.every, self.first_now, self.retry_on = name, every, first_now, retry_on
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One round."""
        raise NotImplementedError

    def last(self) -> None:
        """A last round when stopping (default: nothing)."""

    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (a long round may end early)."""
        return self._stop.is_set()

    def _round(self) -> None:
        try:
            self.tick()
        except self.retry_on as exc:
            log.error("%s: a round failed, retried in %.1f s: %s", self.name, self.every, exc.__class__.__name__)

    def _run(self) -> None:
        try:
            if self.first_now:
                self._round()
            while not self._stop.wait(self.every):
                self._round()
        finally:
            self._stop.set()
            try:
                self.last()
            except self.retry_on as exc:
                log.error("%s: the last round failed: %s", self.name, exc.__class__.__name__)

    def start(self) -> None:
        """Run in the background."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop (waits for the round in progress and the last round)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
