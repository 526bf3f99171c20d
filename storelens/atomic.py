"""Files written whole or not at all, safe when two processes write the same one (two demos, two test workers).

A writer gets a temporary name of its own beside the target (process id and a random part), and the file is
renamed onto the target only when complete: a reader never sees half a file, two writers of the same cache entry
both succeed (the last rename wins, with the same content), and a failed writer leaves nothing behind.
The standard library has the pieces (``os.replace``, ``tempfile``) but not this pattern as one call.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def part_name(target: Path, suffix: str = "") -> Path:
    """A temporary path beside ``target``, unique to this call (``suffix`` keeps an extension tools look at)."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.part{suffix}")


@contextmanager
def replacing(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``target`` when the block ends without an error.

    Args:
        target: the file to write.
        suffix: appended to the temporary name (``".mp4"`` for a writer that picks the format by extension).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_name(target, suffix)
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_file(target: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write ``data`` (text as UTF-8) to ``target`` whole or not at all, the file made with ``mode``.

    A secret (a password, a token) is written with ``0o600``: it is never readable by others, not even while
    it is being written.
    """
    with replacing(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def download_dir(cache: Path) -> Iterator[Path]:
    """A private folder inside ``cache`` for a tool that downloads into a folder (pip download, npm pack).

    Move what it fetched into place with ``Path.replace``; the folder is removed on every way out.
    """
    cache.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=cache, prefix=".download-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def one_at_a_time(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (created if new) for the block: the next process waits.

    For work two processes would otherwise both do in full (preparing the models, rendering the sample video):
    the second waits for the first, then finds the result in place.
    """
    from filelock import FileLock

    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        yield
