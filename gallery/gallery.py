"""The gallery: who the store knows.

``gallery.match(embeddings)`` names members; enrolment and erasure change it durably; a running
reader sees other processes' changes through :meth:`Gallery.refresh`.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from storelens.clock import iso, utc_now
from storelens.config import GalleryConfig
from storelens.errors import GalleryError
from storelens.gallery.index import VectorIndex, choose_kind
from storelens.gallery.records import Consent, DeletionReceipt, EnrolmentResult, MemberInfo, MemberRecord
from storelens.gallery.templates import TemplateBook, member_hash
from storelens.stage_messages import Embeddings, Matches, MatchPolicy

log = logging.getLogger(__name__)

DB_NAME = "gallery.sqlite"
INDEX_NAME = "index.faiss"
PHOTOS_DIR = "photos"
NEIGHBOURS = 16
BULK = 16  # head office's changes applied together beyond this many: the index is rebuilt once


def holds_gallery(directory: Path) -> bool:
    """Whether ``directory`` holds a gallery (readers check before opening: opening creates one)."""
    return (directory / DB_NAME).is_file()


@dataclass(frozen=True)
class NewVector:
    """One vector to enrol, with the photo it came from.

    Attributes:
        vector: (D,) float32, L2-normalised.
        photo_sha256: checksum of the photo file.
        photo: the photo's path (kept only when the config asks).
        ignored: other faces in the photo besides the member's (ignored).
    """

    vector: NDArray[np.float32]
    photo_sha256: str
    photo: Path
    ignored: int = 0


class Gallery:
    """Members' vectors in FAISS, metadata in SQLite, in one directory.

    Args:
        directory: gallery directory (created if absent).
        model: recogniser name; a gallery never mixes models.
        dim: embedding size.
        policy: match threshold and margin.
        config: storage, index and retention settings.
    """

    def __init__(self, directory: Path, model: str, dim: int, policy: MatchPolicy, config: GalleryConfig) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GalleryError(f"{directory}: cannot create the gallery directory: {exc.strerror}") from exc
        if not directory.is_dir():
            raise GalleryError(f"{directory}: not a directory")
        self.model, self.dim, self.policy, self.config = model, dim, policy, config
        self.templates = TemplateBook(directory / DB_NAME, model, dim)
        self._lock = threading.RLock()
        self._last_check = 0.0
        self.index = VectorIndex(dim, "flat", config.ivf_nprobe)
        self.generation = -1
        self._ids = np.zeros(0, np.int64)
        self._owners = np.zeros(0, np.int32)
        self._member_names: list[str] = []
        self._staff: frozenset[str] = frozenset()
        self._name_index: dict[str, int] = {}
        self._load()

    # --- loading ----------------------------------------------------------------------------

    def _load(self, from_file: bool = True, save: bool = True) -> None:
        """Bring the in-memory index to the database's generation (file if current, else rebuild).

        Args:
            from_file: try the saved index first (False: it is known to be older, rebuild).
            save: save a rebuilt index (False: the caller saves it once, after its change).
        """
        db_gen = self.templates.generation()
        path = self.directory / INDEX_NAME
        loaded = False
        if from_file and path.is_file():
            try:
                index, file_gen = VectorIndex.load(path, self.dim, self.config.ivf_nprobe)
                if file_gen == db_gen:
                    self.index, loaded = index, True
            except GalleryError as exc:
                log.warning("rebuilding the gallery index: %s", exc)
        ids, vecs, owners = self.templates.all_vectors()
        if not loaded:
            kind = choose_kind(len(ids), self.config.index, self.config.ivf_min_vectors)
            self.index = VectorIndex(self.dim, kind, self.config.ivf_nprobe)
            self.index.build(ids, vecs)
            if save:
                self.index.save(path, db_gen)
        self._set_owners(ids, owners)
        self._staff = frozenset(self.templates.staff_ids())
        self.generation = db_gen

    def _set_owners(self, ids: NDArray[np.int64], owners: list[str]) -> None:
        """Map vector ids to members: sorted ids (N,) and owner numbers (N,) into ``_member_names``."""
        self._member_names = sorted(set(owners))
        self._name_index = {m: i for i, m in enumerate(self._member_names)}
        order = np.argsort(ids, kind="stable")
        self._ids = ids[order]
        self._owners = np.array([self._name_index[owners[i]] for i in order], dtype=np.int32)

    def _add_owners(self, ids: NDArray[np.int64], member_ids: str | list[str]) -> None:
        """Map new vector ids (N,) to their member (one for all, or one per id)."""
        names = [member_ids] * len(ids) if isinstance(member_ids, str) else member_ids
        for member_id in names:
            if member_id not in self._name_index:
                self._name_index[member_id] = len(self._member_names)
                self._member_names.append(member_id)
        numbers = np.array([self._name_index[m] for m in names], np.int32)
        all_ids = np.concatenate([self._ids, ids])
        all_owners = np.concatenate([self._owners, numbers])
        order = np.argsort(all_ids, kind="stable")
        self._ids, self._owners = all_ids[order], all_owners[order]

    def _remove_owners(self, ids: NDArray[np.int64]) -> None:
        keep = ~np.isin(self._ids, ids)
        self._ids, self._owners = self._ids[keep], self._owners[keep]

    def refresh(self, force: bool = False) -> bool:
        """Pick up other processes' enrolments and erasures; rate-limited by ``refresh_seconds``.

        Returns:
            True when the gallery changed.
        """
        now = time.monotonic()
        if not force and now - self._last_check < self.config.refresh_seconds:
            return False
        self._last_check = now
        with self._lock:
            if self.templates.generation() == self.generation:
                return False
            self._load()
            log.info("gallery reloaded at generation %d (%d vectors)", self.generation, self.index.ntotal)
            return True

    def close(self) -> None:
        """Close the database."""
        self.templates.close()

    # --- matching ---------------------------------------------------------------------------

    def _owner_of(self, ids: NDArray[np.int64]) -> NDArray[np.int32]:
        """Owner numbers (same shape as ``ids``) of vector ids; -1 for FAISS's "no result" (-1) or an unknown id."""
        if len(self._ids) == 0:
            return np.full(ids.shape, -1, np.int32)
        pos = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
        return np.where(self._ids[pos] == ids, self._owners[pos], -1).astype(np.int32)

    def match(self, embeddings: Embeddings) -> Matches:
        """Name the member for each embedding, or None.

        Args:
            embeddings: (N, D) L2-normalised vectors of this gallery's model.

        Returns:
            Matches with member ids (N,), best similarities (N,), runner-up similarities (N,).
        """
        if embeddings.model != self.model:
            raise GalleryError(f"embeddings of {embeddings.model} cannot be matched against a {self.model} gallery")
        self.refresh()
        n = len(embeddings)
        with self._lock:
            k = min(NEIGHBOURS, max(self.index.ntotal, 1))
            sims, ids = self.index.search(embeddings.vectors, k)
            owners = self._owner_of(ids)
            names = list(self._member_names)
        member_ids: list[str | None] = []
        best_ids: list[str | None] = []
        best = np.full(n, -1.0, np.float32)
        second = np.full(n, -1.0, np.float32)
        for i in range(n):
            per_member: dict[int, float] = {}
            for sim, owner in zip(sims[i], owners[i], strict=True):
                if owner >= 0 and sim > per_member.get(int(owner), -2.0):
                    per_member[int(owner)] = float(sim)
            ranked = sorted(per_member.items(), key=lambda kv: -kv[1])
            if ranked:
                best[i] = ranked[0][1]
                best_ids.append(names[ranked[0][0]])
            else:
                best_ids.append(None)
            if len(ranked) > 1:
                second[i] = ranked[1][1]
            named = bool(ranked) and best[i] >= self.policy.threshold and best[i] - second[i] >= self.policy.margin
            member_ids.append(best_ids[-1] if named else None)
        return Matches(tuple(member_ids), best, second, tuple(best_ids))

    # --- changes ----------------------------------------------------------------------------

    @contextmanager
    def _consistent(self) -> Iterator[None]:
        """On any failure, forget the in-memory state so the next use reloads it from the database."""
        try:
            yield
        except BaseException:
            self.generation = -1
            raise

    def _catch_up(self) -> None:
        """Inside a write transaction: make sure the in-memory index holds the latest generation."""
        if self.templates.generation() != self.generation:
            self._load()

    def _maybe_rebuild(self) -> None:
        wanted = choose_kind(self.index.ntotal, self.config.index, self.config.ivf_min_vectors)
        grown = self.index.kind == "ivf" and self.index.ntotal > 4 * max(self.index.trained_on, 1)
        if wanted != self.index.kind or grown:
            ids, vecs, _ = self.templates.all_vectors()
            self.index = VectorIndex(self.dim, wanted, self.config.ivf_nprobe)
            self.index.build(ids, vecs)

    def enroll(
        self, member: MemberInfo, consent: Consent, vectors: list[NewVector], report: bool = True
    ) -> EnrolmentResult:
        """Add a member's vectors in one transaction (all or nothing), with their consent.

        Near-duplicates (same photo, or cosine >= the policy's ``near_duplicate`` with a vector already kept or
        earlier in this batch) are noted and not stored twice. A member's enrolment (not staff's) is queued, in the
        same transaction, for head office (``report``: the box's chain agent sends it).
        """
        return self.enroll_many([(member, consent, vectors)], report)[0]

    def enroll_many(
        self, batch: list[tuple[MemberInfo, Consent, list[NewVector]]], report: bool = True
    ) -> list[EnrolmentResult]:
        """Enrol several members in one transaction and one index save (a bulk import's batch), as :meth:`enroll`.

        All of the batch is stored or none of it, so each member is all or nothing; at most one entry per member.
        """
        results: list[EnrolmentResult] = []
        with self._lock, self._consistent():
            with self.templates.write():
                self._catch_up()
                at = iso(utc_now())
                added_ids: list[NDArray[np.int64]] = []
                added_vecs: list[NDArray[np.float32]] = []
                for member, consent, vectors in batch:
                    result, ids, vecs = self._stage(member, consent, vectors, at, report)
                    results.append(result)
                    added_ids.append(ids)
                    added_vecs.append(vecs)
                    self._staff = (
                        (self._staff | {member.member_id})
                        if member.kind == "staff"
                        else self._staff - {member.member_id}
                    )
                generation = self.templates.bump_generation()
                ids_all = np.concatenate(added_ids) if added_ids else np.zeros(0, np.int64)
                vecs_all = np.concatenate(added_vecs) if added_vecs else np.zeros((0, self.dim), np.float32)
                self.index.add(ids_all, vecs_all)
                owners = [m.member_id for (m, _, _), ids in zip(batch, added_ids, strict=True) for _ in ids]
                self._add_owners(ids_all, owners)
                self._maybe_rebuild()
            self._after_change(generation)
        return results

    def _stage(
        self, member: MemberInfo, consent: Consent, vectors: list[NewVector], at: str, report: bool
    ) -> tuple[EnrolmentResult, NDArray[np.int64], NDArray[np.float32]]:
        """In a write transaction: store one member's new vectors; returns the result, new ids (K,), vectors (K, D)."""
        _, existing, shas = self.templates.member_vectors(member.member_id)
        kept: list[NDArray[np.float32]] = list(existing)
        duplicates: list[str] = []
        fresh: list[NewVector] = []
        for nv in vectors:
            if nv.photo_sha256 in shas:
                duplicates.append(f"{nv.photo}: the same photo is already enrolled")
                continue
            sims = [float(nv.vector @ v) for v in kept]
            if sims and max(sims) >= self.policy.near_duplicate:
                duplicates.append(f"{nv.photo}: near-duplicate (similarity {max(sims):.3f}) of a kept photo")
                continue
            kept.append(nv.vector)
            shas.append(nv.photo_sha256)
            fresh.append(nv)
        self.templates.upsert_member(member, consent, at)
        if report and member.kind == "member":
            self.templates.add_report(str(uuid.uuid4()), member.member_id, "enrolled", "", at)
        new_ids = [self.templates.add_vector(member.member_id, nv.vector, nv.photo_sha256, at) for nv in fresh]
        photos_kept = 0
        if self.config.keep_photos:
            folder = self.directory / PHOTOS_DIR / member_hash(member.member_id)[:32]
            folder.mkdir(parents=True, exist_ok=True)
            for vid, nv in zip(new_ids, fresh, strict=True):
                dest = folder / f"{vid}{nv.photo.suffix.lower() or '.jpg'}"
                shutil.copyfile(nv.photo, dest)
                self.templates.set_photo_path(vid, str(dest.relative_to(self.directory)))
                photos_kept += 1
        result = EnrolmentResult(
            member_id=member.member_id,
            added_vectors=len(fresh),
            total_vectors=len(kept),
            near_duplicates=duplicates,
            photos_kept=photos_kept,
            others_ignored=[f"{nv.photo}: {nv.ignored} other face(s) ignored" for nv in vectors if nv.ignored],
        )
        vecs = np.stack([nv.vector for nv in fresh]) if fresh else np.zeros((0, self.dim), np.float32)
        return result, np.array(new_ids, dtype=np.int64), vecs.astype(np.float32)

    def photo_checksums(self) -> dict[str, set[str]]:
        """Each enrolled member's photo checksums (an import skips members enrolled from the same photos)."""
        return self.templates.photo_checksums()

    def remove(
        self, member_id: str, reason: str = "erasure request", report: Literal["erased", "purged"] | None = "erased"
    ) -> DeletionReceipt:
        """Erase a member: vectors (index and database), kept photos, consent and metadata.

        ``report``: queue, in the same transaction, what happened for head office (None: head office asked).

        Raises:
            GalleryError: the member is not enrolled.
        """
        with self._lock, self._consistent():
            with self.templates.write():
                self._catch_up()
                if not self.templates.has_member(member_id):
                    raise GalleryError(f"member {member_id!r} is not enrolled in {self.directory}")
                ids, _, _ = self.templates.member_vectors(member_id)
                photos = [self.directory / p for p in self.templates.photo_paths(member_id)]
                at = iso(utc_now())
                record = self.templates.member(member_id)
                n_vec, n_photo, n_consent = self.templates.delete_member(member_id, at, reason)
                self.templates.drop_member_reports(member_id)
                if report is not None and record is not None and record.kind == "member":
                    self.templates.add_report(str(uuid.uuid4()), member_id, report, reason[:200], at)
                generation = self.templates.bump_generation()
                self.index.remove(ids)
                self._remove_owners(ids)
                self._staff = self._staff - {member_id}
            for photo in photos:
                photo.unlink(missing_ok=True)
            folder = self.directory / PHOTOS_DIR / member_hash(member_id)[:32]
            if folder.is_dir():
                shutil.rmtree(folder)
            self.templates.checkpoint()
            self._after_change(generation)
        return DeletionReceipt(
            member_id=member_id,
            removed_vectors=n_vec,
            removed_photos=n_photo,
            removed_consents=n_consent,
            removed_metadata=True,
            at=at,
            reason=reason,
        )

    def report(self, member_id: str, op: Literal["enrolled", "erased", "purged"], reason: str = "") -> None:
        """Queue a report to head office on its own (an erasure asked here of a member this box holds no face of)."""
        with self.templates.write():
            if op != "enrolled":
                self.templates.drop_member_reports(member_id)
            self.templates.add_report(str(uuid.uuid4()), member_id, op, reason[:200], iso(utc_now()))

    def chain_version(self, member_id: str) -> int:
        """The version of head office's last change applied to this member here (0: none)."""
        return self.templates.chain_version(member_id)

    def put_chain_members(self, changes: list[tuple[MemberInfo, Consent, NDArray[np.float32], int]]) -> list[int]:
        """Hold exactly head office's vectors of each member, replacing any, and record each change's version.

        One transaction and one index save for the whole batch (a new box receives thousands of members at
        once): a reader sees the old sets or the new ones. No photo is involved (none leaves a box).

        Args:
            changes: (member, consent already checked against this box's rules, (K, D) float32 L2-normalised
                vectors, the change's version), at most one per member.

        Returns:
            K per change, the vectors now held.
        """
        held: list[int] = []
        bulk = len(changes) > BULK
        with self._lock, self._consistent():
            with self.templates.write():
                self._catch_up()
                at = iso(utc_now())
                photos: list[Path] = []
                for member, consent, vectors, version in changes:
                    old_ids, _, _ = self.templates.member_vectors(member.member_id)
                    photos += [self.directory / p for p in self.templates.photo_paths(member.member_id)]
                    self.templates.delete_vectors(member.member_id)
                    self.templates.upsert_member(member, consent, at)
                    new_ids = [
                        self.templates.add_vector(member.member_id, v, f"hq-{version}-{i}", at)
                        for i, v in enumerate(vectors)
                    ]
                    self.templates.set_chain_version(member.member_id, version, "upsert", at)
                    if not bulk:
                        self.index.remove(old_ids)
                        self._remove_owners(old_ids)
                        ids_arr = np.array(new_ids, dtype=np.int64)
                        self.index.add(ids_arr, np.ascontiguousarray(vectors, dtype=np.float32))
                        self._add_owners(ids_arr, member.member_id)
                        mid = member.member_id
                        self._staff = (self._staff | {mid}) if member.kind == "staff" else self._staff - {mid}
                    held.append(len(new_ids))
                generation = self.templates.bump_generation()
                if bulk:  # one rebuild from the database beats re-sorting the owners once per member
                    self._load(from_file=False, save=False)  # saved once, by _after_change
                else:
                    self._maybe_rebuild()
            for photo in photos:
                photo.unlink(missing_ok=True)
            self._after_change(generation)
        return held

    def note_chain_version(self, member_id: str, version: int, op: str) -> None:
        """Record that head office's change ``version`` (e.g. an erasure, done by the caller) was applied."""
        with self.templates.write():
            self.templates.set_chain_version(member_id, version, op, iso(utc_now()))

    def _after_change(self, generation: int) -> None:
        with self._lock:
            self.index.save(self.directory / INDEX_NAME, generation)
            self.generation = generation

    def is_staff(self, member_id: str) -> bool:
        """Whether ``member_id`` is on the staff list (never announced, never counted as a visitor)."""
        return member_id in self._staff

    def touch(self, member_id: str, at: datetime | None = None) -> None:
        """Record that a member was seen now (retention counts from the last visit)."""
        with self.templates.write():
            self.templates.touch(member_id, iso(at or utc_now()))

    def expired(self, retention_days: int, now: datetime | None = None) -> list[MemberRecord]:
        """Members not seen (or enrolled) within ``retention_days`` (``PrivacyRules``): who a purge would erase."""
        days = retention_days
        if days < 1:
            raise GalleryError(f"retention must be at least 1 day, got {days}: a purge would erase every member")
        before = iso((now or utc_now()) - timedelta(days=days))
        wanted = set(self.templates.expired(before))
        return [m for m in self.templates.members() if m.member_id in wanted]

    def purge_expired(self, retention_days: int, now: datetime | None = None) -> list[DeletionReceipt]:
        """Erase members not seen (or enrolled) within ``retention_days``."""
        days = retention_days
        gone = self.expired(days, now)
        reason = f"retention: not seen for {days} days"
        return [self.remove(m.member_id, reason=reason, report="purged") for m in gone]

    # --- reading ----------------------------------------------------------------------------

    def members(self) -> list[MemberRecord]:
        """Every enrolled member."""
        return self.templates.members()

    def __len__(self) -> int:
        return self.index.ntotal
