"""One background worker shape for every long-running loop: ``while not stop: wait(every or a poke); tick()``.

Written here because the standard library's ``threading.Timer`` runs once and ``sched`` blocks its caller:
a 24/7 process needs a loop that stops promptly, survives a failing round (logged as one line, retried next
round) and runs a last round on stop.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        self._wake = threading.Event()  # set by stop() and poke(): the next round starts now
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """One round."""
        raise NotImplementedError

    def last(self) -> None:
        """A last round when stopping (default: nothing)."""

    def poke(self) -> None:
        """Run the next round now rather than at the end of the wait."""
        self._wake.set()

    def _wait(self) -> bool:
        """Wait ``every`` seconds (less when poked or stopped); True when stopping."""
        self._wake.wait(self.every)
        self._wake.clear()
        return self._stop.is_set()

    def pause(self, seconds: float) -> bool:
        """Wait up to ``seconds`` inside a round (a retry's back-off); True when stopping."""
        return self._stop.wait(seconds)

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
            while not self._wait():
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
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop (waits for the round in progress and the last round)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def drain(source: queue.Queue[T], most: int) -> list[T]:
    """Up to ``most`` items waiting in ``source``, without waiting (one batch of a queue-fed worker)."""
    batch: list[T] = []
    while len(batch) < most:
        try:
            batch.append(source.get_nowait())
        except queue.Empty:
            break
    return batch


def stop_in_order(steps: list[tuple[str, Callable[[], object]]]) -> None:
    """Run each stop step in turn, every one of them even when one fails (logged as one line).

    A process's ``stop()`` lists its steps in the reverse of its start: serving first, the database last.
    """
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # a failing step must not leave the later ones (the database) open
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            log.error("stopping %s failed: %s: %s", name, exc.__class__.__name__, first)
