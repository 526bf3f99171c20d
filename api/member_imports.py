"""Bulk enrolment from the store console: a manifest and a zip of photos, unpacked safely, imported in the background.

The zip is checked before and while it is unpacked: no more than ``api.max_import_files`` entries, no entry whose
name leaves the folder (absolute, ``..``) or is a link, no entry that expands more than :data:`MAX_RATIO` times
(a zip bomb), and no more than ``api.max_import_unpacked_bytes`` written in all (counted as written: a header may
lie). Anything wrong refuses the whole upload with one line, before a member is touched.

Each import runs in a thread of its own (``storelens.gallery.bulk``); the console polls its progress and
verdicts. The photos are deleted when it ends: the gallery keeps vectors, and photos only where the
configuration asks. At most :data:`KEPT_JOBS` finished imports are remembered.
"""

from __future__ import annotations

import logging
import shutil
import stat
import tempfile
import threading
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from storelens.errors import StoreLensError
from storelens.gallery.bulk import Member, Verdict

log = logging.getLogger(__name__)

MAX_RATIO = 200  # an entry that expands more than this many times its compressed size is a zip bomb
KEPT_JOBS = 8  # finished imports remembered for the console
CHUNK = 1 << 20


class ZipRefused(StoreLensError):
    """The photos' zip is unsafe or too large; nothing was imported."""


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts or ":" in path.parts[0]:
        raise ZipRefused(f"photos zip: the entry {name[:120]!r} would be written outside its folder")
    return path


def unpack_photos(archive: Path, dest: Path, max_files: int, max_bytes: int) -> int:
    """Unpack a zip of photos into ``dest``, refusing it whole when unsafe.

    Args:
        archive: the uploaded zip.
        dest: an empty folder.
        max_files: most entries accepted (``api.max_import_files``).
        max_bytes: most bytes written in all (``api.max_import_unpacked_bytes``).

    Returns:
        Files written.

    Raises:
        ZipRefused: not a zip, too many entries, a name outside the folder, a link, an entry that expands too much,
            or more than ``max_bytes`` in all (what was written is left to the caller to delete).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ZipRefused(f"photos zip: not a zip file ({exc})") from exc
    with zf:
        entries = zf.infolist()
        if len(entries) > max_files:
            raise ZipRefused(
                f"photos zip: {len(entries):,} entries, more than the {max_files:,} accepted (api.max_import_files); "
                "import it in parts, or with storelens gallery import on the box"
            )
        declared = sum(e.file_size for e in entries)
        if declared > max_bytes:
            raise ZipRefused(
                f"photos zip: {declared:,} bytes once unpacked, more than the {max_bytes:,} accepted "
                "(api.max_import_unpacked_bytes)"
            )
        written = files = 0
        for entry in entries:
            name = _safe_name(entry.filename)
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise ZipRefused(f"photos zip: the entry {entry.filename[:120]!r} is a link")
            if entry.is_dir():
                continue
            if entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
                raise ZipRefused(
                    f"photos zip: the entry {entry.filename[:120]!r} expands {MAX_RATIO}+ times (a zip bomb)"
                )
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            with zf.open(entry) as src, target.open("wb") as out:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    written += len(chunk)
                    if size > MAX_RATIO * max(entry.compress_size, 1) or written > max_bytes:
                        raise ZipRefused(
                            f"photos zip: the entry {entry.filename[:120]!r} unpacks to more than it declared"
                        )
                    out.write(chunk)
            files += 1
    return files


@dataclass
class ImportJob:
    """One console import: where it stands, and the verdicts so far.

    Attributes:
        id: the job's id.
        total: members to go through (valid rows).
        done: members gone through.
        state: running, done or failed.
        verdicts: one per row, as they come (refused rows of the manifest first).
        error: why it failed, when it did.
    """

    id: str
    total: int
    done: int = 0
    state: Literal["running", "done", "failed"] = "running"
    verdicts: list[Verdict] = field(default_factory=list)
    error: str = ""


class ImportJobs:
    """The store's console imports: one at a time, each in a thread; the last few remembered."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()
        self._lock = threading.Lock()

    def running(self) -> bool:
        """Whether an import is under way."""
        with self._lock:
            return any(j.state == "running" for j in self._jobs.values())

    def get(self, job_id: str) -> ImportJob | None:
        """The job, or None when unknown (or forgotten)."""
        with self._lock:
            return self._jobs.get(job_id)

    def start(
        self,
        folder: Path,
        members: list[Member],
        refused: list[Verdict],
        run: Callable[[list[Member], Callable[[int, int], None]], Iterator[Verdict]],
    ) -> ImportJob:
        """Start importing ``members`` in a thread; ``folder`` (the unpacked upload) is deleted when it ends."""
        job = ImportJob(uuid.uuid4().hex, len(members), verdicts=list(refused))
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state == "running":
                    break
                self._jobs.popitem(last=False)

        def progress(done: int, total: int) -> None:
            job.done = done

        def work() -> None:
            try:
                for verdict in run(members, progress):
                    job.verdicts.append(verdict)
                job.done, job.state = job.total, "done"
            except StoreLensError as exc:
                job.state, job.error = "failed", str(exc)
            except Exception as exc:  # a worker thread records why it stopped instead of dying in silence
                log.error("member import %s stopped: %s: %s", job.id, type(exc).__name__, exc)
                job.state, job.error = "failed", "the import stopped on an internal error (the API's log says which)"
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        threading.Thread(target=work, name=f"member-import-{job.id[:8]}", daemon=True).start()
        return job


def upload_folder() -> Path:
    """A private folder for one upload's manifest and photos."""
    return Path(tempfile.mkdtemp(prefix="storelens-import-"))
