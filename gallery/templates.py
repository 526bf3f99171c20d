"""SQLite metadata and vectors: the gallery's source of truth.

The FAISS index file is derived from this database and carries its generation; a reader whose index
is older than the database rebuilds it from here. ``secure_delete`` zeroes erased rows on disk, and a
WAL checkpoint after each erasure leaves no copy of them in the log.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from storelens.clock import iso
from storelens.errors import GalleryError, SchemaError
from storelens.gallery.records import Consent, MemberInfo, MemberRecord
from storelens.members import member_hash as member_hash
from storelens.migrations import migrate_sqlite

SCHEMA_VERSION = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    member_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    enrolled_at TEXT NOT NULL,
    last_seen_at TEXT
);
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(member_id) ON DELETE CASCADE,
    reference TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    purpose TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    under_14 INTEGER NOT NULL,
    guardian_reference TEXT
);
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(member_id) ON DELETE CASCADE,
    vector BLOB NOT NULL,
    photo_sha256 TEXT NOT NULL,
    photo_path TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_member ON vectors(member_id);
CREATE TABLE IF NOT EXISTS erasures (
    id INTEGER PRIMARY KEY,
    member_hash TEXT NOT NULL,
    at TEXT NOT NULL,
    vectors INTEGER NOT NULL,
    photos INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


def _v1(db: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _v2(db: sqlite3.Connection) -> None:
    """Schema 2: the erasure log also counts the consent records removed."""
    db.execute("ALTER TABLE erasures ADD COLUMN consents INTEGER NOT NULL DEFAULT 0")


def _v3(db: sqlite3.Connection) -> None:
    """Schema 3: consent records say what the privacy profile required (separate, written release, profile)."""
    db.execute("ALTER TABLE consents RENAME COLUMN under_14 TO minor")
    db.execute("ALTER TABLE consents ADD COLUMN separate INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE consents ADD COLUMN written_release TEXT")
    db.execute("ALTER TABLE consents ADD COLUMN profile TEXT NOT NULL DEFAULT 'custom'")


def _v4(db: sqlite3.Connection) -> None:
    """Schema 4: staff on a staff list of their own (never announced, never counted)."""
    db.execute("ALTER TABLE members ADD COLUMN kind TEXT NOT NULL DEFAULT 'member'")


def _v5(db: sqlite3.Connection) -> None:
    """Schema 5: the version of head office's last change applied per member (an erasure's outlives the member)."""
    db.execute(
        "CREATE TABLE chain_versions (member_ref TEXT PRIMARY KEY, version INTEGER NOT NULL, op TEXT NOT NULL, "
        "at TEXT NOT NULL)"
    )


def _v6(db: sqlite3.Connection) -> None:
    """Schema 6: the consent's scope (home or chain) and visit sharing; the outbox of reports to head office."""
    db.execute("ALTER TABLE consents ADD COLUMN scope TEXT NOT NULL DEFAULT 'home'")
    db.execute("ALTER TABLE consents ADD COLUMN share_visits INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "CREATE TABLE chain_outbox (id INTEGER PRIMARY KEY, report_id TEXT NOT NULL UNIQUE, member_id TEXT, "
        "member_ref TEXT NOT NULL, op TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL)"
    )


MIGRATIONS = {0: _v1, 1: _v2, 2: _v3, 3: _v4, 4: _v5, 5: _v6}


class TemplateBook:
    """The gallery database.

    Args:
        path: the SQLite file.
        model: recogniser name the vectors belong to (a gallery never mixes models).
        dim: embedding size.
    """

    def __init__(self, path: Path, model: str, dim: int) -> None:
        self.path = path
        # One connection is shared by the camera threads of an edge process, and SQLite keeps one
        # transaction per connection: this lock gives each writer the connection for its whole
        # transaction.
        self._write_lock = threading.Lock()
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA secure_delete=ON")
            migrate_sqlite(self.db, SCHEMA_VERSION, MIGRATIONS, str(path))
            with self.write():
                self._init_meta(model, dim)
        except (sqlite3.DatabaseError, SchemaError) as exc:
            raise GalleryError(f"{path}: not a usable gallery database: {exc}") from exc
        self.model, self.dim = model, dim

    def _init_meta(self, model: str, dim: int) -> None:
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if "model" not in meta:
            self.db.executemany(
                "INSERT INTO meta VALUES (?, ?)", [("model", model), ("dim", str(dim)), ("generation", "0")]
            )
            return
        if meta.get("model") != model or meta.get("dim") != str(dim):
            raise GalleryError(
                f"{self.path}: gallery was enrolled with {meta.get('model')} ({meta.get('dim')}-d); the configured "
                f"recogniser is {model} ({dim}-d), and vectors of one model mean nothing to another: either set "
                "[models] pack back to the pack that made this gallery, or enrol the members again from their "
                "photos into a new gallery ([gallery] dir = a new directory; `storelens gallery enroll`), then "
                "erase the old one"
            )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, committed on success, rolled back on error.

        Threads of one process take turns; other processes wait on SQLite's own lock.
        """
        with self._write_lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def generation(self) -> int:
        """Bumped by every change of vectors; the index file carries the generation it was built from."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    def bump_generation(self) -> int:
        """Increase the generation (inside a write transaction) and return the new value."""
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        return self.generation()

    def all_vectors(self) -> tuple[NDArray[np.int64], NDArray[np.float32], list[str]]:
        """Every vector: ids (N,), vectors (N, D), member ids (N,)."""
        rows = self.db.execute("SELECT id, member_id, vector FROM vectors ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), self.dim)
        return ids, vecs.copy(), [r[1] for r in rows]

    def member_vectors(self, member_id: str) -> tuple[NDArray[np.int64], NDArray[np.float32], list[str]]:
        """A member's vector ids (K,), vectors (K, D) and photo checksums."""
        rows = self.db.execute(
            "SELECT id, vector, photo_sha256 FROM vectors WHERE member_id = ? ORDER BY id", (member_id,)
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self.dim)
        return ids, vecs.copy(), [r[2] for r in rows]

    def photo_checksums(self) -> dict[str, set[str]]:
        """Each member's photo checksums, in one query."""
        out: dict[str, set[str]] = {}
        for member_id, sha in self.db.execute("SELECT member_id, photo_sha256 FROM vectors"):
            out.setdefault(member_id, set()).add(sha)
        return out

    def has_member(self, member_id: str) -> bool:
        """Whether ``member_id`` is enrolled."""
        return self.db.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone() is not None

    def upsert_member(self, member: MemberInfo, consent: Consent, at: str) -> None:
        """Create or update a member and record the consent given with this enrolment."""
        self.db.execute(
            "INSERT INTO members (member_id, name, enrolled_at, kind) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(member_id) DO UPDATE SET name = CASE WHEN excluded.name != '' THEN excluded.name "
            "ELSE members.name END, kind = excluded.kind",
            (member.member_id, member.name, at, member.kind),
        )
        self.db.execute(
            "INSERT INTO consents (member_id, reference, notice_version, purpose, recorded_at, minor, "
            "guardian_reference, separate, written_release, profile, scope, share_visits) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                member.member_id,
                consent.reference,
                consent.notice_version,
                consent.purpose,
                iso(consent.recorded_at),
                int(consent.minor),
                consent.guardian_reference,
                int(consent.separate),
                consent.written_release,
                consent.profile,
                consent.scope,
                int(consent.share_visits),
            ),
        )

    def consent(self, member_id: str) -> Consent | None:
        """The latest consent of a member, as recorded (None when not enrolled)."""
        row = self.db.execute(
            "SELECT reference, notice_version, purpose, recorded_at, minor, guardian_reference, separate, "
            "written_release, profile, scope, share_visits FROM consents WHERE member_id = ? ORDER BY id DESC LIMIT 1",
            (member_id,),
        ).fetchone()
        if row is None:
            return None
        names = ("reference", "notice_version", "purpose", "recorded_at", "minor", "guardian_reference", "separate",
                 "written_release", "profile", "scope", "share_visits")  # fmt: skip
        return Consent.model_validate(dict(zip(names, row, strict=True)))

    def add_report(self, report_id: str, member_id: str, op: str, reason: str, at: str) -> None:
        """Queue a report to head office (in the caller's transaction: the change and its report go together).

        An erasure or a purge is kept under the member's hash only (head office resolves it); the erasure itself
        drops the member's enrolment reports not sent yet (:meth:`drop_member_reports`).
        """
        self.db.execute(
            "INSERT INTO chain_outbox (report_id, member_id, member_ref, op, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
            (report_id, member_id if op == "enrolled" else None, member_hash(member_id), op, reason, at),
        )

    def reports(self, limit: int) -> list[tuple[str, str | None, str, str, str]]:
        """The oldest reports not yet noted by head office: (report_id, member_id or None, member_ref, op, reason)."""
        rows = self.db.execute(
            "SELECT report_id, member_id, member_ref, op, reason FROM chain_outbox ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [(str(r[0]), None if r[1] is None else str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    def drop_member_reports(self, member_id: str) -> None:
        """Drop a member's enrolment reports not sent yet (in the caller's transaction: they are being erased)."""
        self.db.execute("DELETE FROM chain_outbox WHERE member_id = ?", (member_id,))

    def clear_reports(self) -> int:
        """Forget every report (a box outside any chain: no head office to tell)."""
        with self.write():
            return int(self.db.execute("DELETE FROM chain_outbox").rowcount)

    def drop_report(self, report_id: str) -> bool:
        """Forget a report head office has noted; False when it was not queued."""
        with self.write():
            return self.db.execute("DELETE FROM chain_outbox WHERE report_id = ?", (report_id,)).rowcount > 0

    def add_vector(self, member_id: str, vector: NDArray[np.float32], photo_sha256: str, at: str) -> int:
        """Store one vector; returns its id (the FAISS id)."""
        cur = self.db.execute(
            "INSERT INTO vectors (member_id, vector, photo_sha256, added_at) VALUES (?, ?, ?, ?)",
            (member_id, np.ascontiguousarray(vector, dtype=np.float32).tobytes(), photo_sha256, at),
        )
        return int(cur.lastrowid or 0)

    def set_photo_path(self, vector_id: int, path: str) -> None:
        """Remember where a kept enrolment photo is."""
        self.db.execute("UPDATE vectors SET photo_path = ? WHERE id = ?", (path, vector_id))

    def photo_paths(self, member_id: str) -> list[str]:
        """Kept photos of a member."""
        rows = self.db.execute(
            "SELECT photo_path FROM vectors WHERE member_id = ? AND photo_path IS NOT NULL", (member_id,)
        )
        return [r[0] for r in rows]

    def delete_member(self, member_id: str, at: str, reason: str) -> tuple[int, int, int]:
        """Delete every row of a member; log the erasure under a one-way hash. Returns counts."""
        n_vec = self.db.execute("SELECT COUNT(*) FROM vectors WHERE member_id = ?", (member_id,)).fetchone()[0]
        n_photo = len(self.photo_paths(member_id))
        n_consent = self.db.execute("SELECT COUNT(*) FROM consents WHERE member_id = ?", (member_id,)).fetchone()[0]
        self.db.execute("DELETE FROM vectors WHERE member_id = ?", (member_id,))
        self.db.execute("DELETE FROM consents WHERE member_id = ?", (member_id,))
        self.db.execute("DELETE FROM members WHERE member_id = ?", (member_id,))
        self.db.execute(
            "INSERT INTO erasures (member_hash, at, vectors, photos, consents, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (member_hash(member_id), at, n_vec, n_photo, n_consent, reason),
        )
        return int(n_vec), n_photo, int(n_consent)

    def chain_version(self, member_id: str) -> int:
        """The version of head office's last change applied to this member here (0: none)."""
        row = self.db.execute(
            "SELECT version FROM chain_versions WHERE member_ref = ?", (member_hash(member_id),)
        ).fetchone()
        return int(row[0]) if row else 0

    def set_chain_version(self, member_id: str, version: int, op: str, at: str) -> None:
        """Record head office's change applied (keyed by the member's hash: it outlives an erasure)."""
        self.db.execute(
            "INSERT INTO chain_versions VALUES (?, ?, ?, ?) ON CONFLICT(member_ref) DO UPDATE SET "
            "version = excluded.version, op = excluded.op, at = excluded.at",
            (member_hash(member_id), version, op, at),
        )

    def delete_vectors(self, member_id: str) -> None:
        """Delete a member's vectors (replaced by head office's set)."""
        self.db.execute("DELETE FROM vectors WHERE member_id = ?", (member_id,))

    def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it (no erased row survives in the log)."""
        with self._write_lock:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def touch(self, member_id: str, at: str) -> None:
        """Record that a member was seen (retention counts from here)."""
        self.db.execute("UPDATE members SET last_seen_at = ? WHERE member_id = ?", (at, member_id))

    def staff_ids(self) -> set[str]:
        """Who is on the staff list."""
        return {r[0] for r in self.db.execute("SELECT member_id FROM members WHERE kind = 'staff'")}

    def expired(self, before: str) -> list[str]:
        """Members neither seen nor enrolled since ``before``."""
        rows = self.db.execute("SELECT member_id FROM members WHERE COALESCE(last_seen_at, enrolled_at) < ?", (before,))
        return [r[0] for r in rows]

    def members(self, member_id: str | None = None) -> list[MemberRecord]:
        """Every member (or the one given) with their latest consent."""
        rows = self.db.execute(
            """SELECT m.member_id, m.name, m.enrolled_at, m.last_seen_at,
                      (SELECT COUNT(*) FROM vectors v WHERE v.member_id = m.member_id),
                      c.reference, c.notice_version, c.purpose, c.minor, c.separate, c.written_release, c.profile,
                      m.kind
               FROM members m JOIN consents c ON c.id =
                    (SELECT MAX(id) FROM consents WHERE member_id = m.member_id)
               WHERE ? IS NULL OR m.member_id = ?
               ORDER BY m.member_id""",
            (member_id, member_id),
        ).fetchall()
        return [
            MemberRecord(
                member_id=r[0],
                name=r[1],
                enrolled_at=r[2],
                last_seen_at=r[3],
                vectors=r[4],
                consent_reference=r[5],
                notice_version=r[6],
                purpose=r[7],
                minor=bool(r[8]),
                separate=bool(r[9]),
                written_release=r[10],
                profile=r[11],
                kind=r[12],
            )
            for r in rows
        ]

    def member(self, member_id: str) -> MemberRecord | None:
        """One member, or None when not enrolled."""
        found = self.members(member_id)
        return found[0] if found else None
