"""Progress of a long step (the sample video, many photos, an import): a bar on a terminal, lines otherwise.

tqdm draws the bar when standard error is a terminal; when it is a file or a pipe (a log, CI, a test), a plain
``storelens: LABEL: N %`` line is written every tenth, so that logs stay readable and nothing is redrawn.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class Progress:
    """``with Progress("rendering the sample video") as p: p(done, total)``; callable as a ``(done, total)`` hook."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` units."""
        if sys.stderr.isatty():
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=f"storelens: {self.label}", unit="", leave=True, file=sys.stderr)
            self._bar.update(done - self._bar.n)
            return
        tenth = done * 10 // max(total, 1)
        if tenth > self._shown:
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
