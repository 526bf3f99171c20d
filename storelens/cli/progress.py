"""Progress of a long step (the sample video, many photos, an import): a bar on a terminal, lines otherwise.

tqdm draws the bar when standard error is a terminal; when it is a file or a pipe (a log, CI, a test), a plain
``storelens: LABEL: N %`` line is written every tenth, so that logs stay readable and nothing is redrawn.
Either shows only once the step has taken :data:`QUIET_SECONDS`: a short step (or a bad file refused at once)
prints nothing more than its result.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

QUIET_SECONDS = 2.0


class Progress:
    """``with Progress("rendering the sample video") as p: p(done, total)``; callable as a ``(done, total)`` hook."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._shown = -1
        self._start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` units."""
        if sys.stderr.isatty():
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=total, desc=f"storelens: {self.label}", leave=True, file=sys.stderr, delay=QUIET_SECONDS
                )
            self._bar.update(done - self._bar.n)
            return
        tenth = done * 10 // max(total, 1)
        if tenth > self._shown and time.monotonic() - self._start >= QUIET_SECONDS:
            self._shown = tenth
            sys.stderr.write(f"storelens: {self.label}: {tenth * 10} %\n")
            sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            if kind is None:
                self._bar.update(self._bar.total - self._bar.n)
            self._bar.close()
        elif kind is None and self._shown >= 0 and self._shown < 10:
            sys.stderr.write(f"storelens: {self.label}: 100 %\n")


class _Counted(io.RawIOBase):
    """A readable file that reports the bytes read so far against the file's size."""

    def __init__(self, raw: IO[bytes], hook: Callable[[int, int], None]) -> None:
        self.raw, self.hook, self.done = raw, hook, 0
        self.total = os.fstat(raw.fileno()).st_size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.done += n or 0
        self.hook(self.done, self.total)
        return n or 0


def counted(raw: IO[bytes], hook: Callable[[int, int], None]) -> IO[bytes]:
    """``raw`` (an open file) read through a buffer that calls ``hook(bytes read, file size)`` as it goes."""
    return io.BufferedReader(_Counted(raw, hook))
