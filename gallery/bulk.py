"""Bulk enrolment from a CRM export: a manifest of members, their consent and photos, enrolled in batches.

The manifest is CSV (a header row; several photos in one cell, separated by ``;``) or JSON Lines (one object
per line, ``photos`` a list), with the fields of :class:`ManifestRow`. Photo paths are relative to the
manifest's folder and must stay inside it.

Each row gets one verdict: enrolled, skipped (already enrolled from the same photos: an import is resumable,
a second run retries only what did not land) or refused, with why. Each member is all or nothing: a member
with one unusable photo is refused whole. Members are stored in batches, one transaction and one index save
each (``Gallery.enroll_many``), so a process killed at any point leaves every member enrolled wholly or not
at all, and the next run finishes the job.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storelens.bounds import IDENT, MemberId, Name
from storelens.config import EnrolmentConfig
from storelens.errors import ConfigError, EnrolmentError, StoreLensError
from storelens.gallery.enrol import Enroller, Inspected
from storelens.gallery.gallery import Gallery, NewVector
from storelens.gallery.records import Consent, MemberInfo, check_consent
from storelens.privacy import PrivacyRules
from storelens.stage_messages import Embeddings

MAX_ROWS = 200_000  # rows of one manifest (a chain's whole CRM, in several files beyond this)
MAX_PHOTOS = 10  # photos of one member in one row
MAX_MANIFEST_BYTES = 200_000_000
PHOTO_SEPARATOR = ";"  # several photos in one CSV cell
BATCH = 64  # members stored per transaction and index save
PhotoName = Annotated[str, Field(min_length=1, max_length=500)]


class ManifestRow(BaseModel):
    """One member of a manifest: who, under what consent, from which photos."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    member_id: MemberId
    name: Name = ""
    consent_reference: str = Field(min_length=1, max_length=200, description="The signed consent's reference")
    notice_version: str | None = Field(default=None, min_length=1, max_length=40)
    purpose: str | None = Field(default=None, min_length=1, max_length=80)
    separate_consent: bool = False
    written_release: str | None = Field(default=None, min_length=1, max_length=200)
    minor: bool = False
    guardian_consent: str | None = Field(default=None, min_length=1, max_length=200)
    share_visits: bool = False
    scope: Literal["home", "chain"] = "home"
    home_store: str | None = Field(
        default=None, pattern=IDENT, description="Head office: the home store of a member of scope home"
    )
    photos: list[PhotoName] = Field(min_length=1, max_length=MAX_PHOTOS, description="Relative to the manifest")


@dataclass(frozen=True)
class Verdict:
    """What happened to one row.

    Attributes:
        row: the row's number in the manifest (1 = the first member).
        member_id: the member, when the row names one.
        status: enrolled, skipped (already enrolled from the same photos) or refused.
        reason: why it was refused or skipped; what was noted when enrolled ("" when nothing).
        photos: photos stored for the member by this row.
    """

    row: int
    member_id: str | None
    status: Literal["enrolled", "skipped", "refused"]
    reason: str = ""
    photos: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The verdict as JSON-ready data."""
        return {
            "row": self.row,
            "member_id": self.member_id,
            "status": self.status,
            "reason": self.reason,
            "photos": self.photos,
        }


@dataclass(frozen=True)
class Member:
    """A valid row, its photos resolved inside the manifest's folder.

    Attributes:
        row: the row's number.
        info: who.
        consent: the consent, checked against the privacy rules.
        photos: the photo files.
        home_store: head office: the member's home store (scope home).
    """

    row: int
    info: MemberInfo
    consent: Consent
    photos: tuple[Path, ...]
    home_store: str | None = None


def _raw_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(row number, fields) for each row of a CSV or JSON Lines manifest, or (row number, what is wrong)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the manifest: {exc.strerror}") from exc
    if size > MAX_MANIFEST_BYTES:
        raise ConfigError(f"{path}: the manifest is {size:,} bytes, more than {MAX_MANIFEST_BYTES:,}; split it")
    suffix = path.suffix.lower()
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            if suffix == ".csv":
                reader = csv.DictReader(fh)
                known = set(ManifestRow.model_fields)
                header = reader.fieldnames or []
                unknown = [h for h in header if h not in known]
                if unknown or "member_id" not in header:
                    raise ConfigError(
                        f"{path}: the header must name member_id and only known columns "
                        f"({', '.join(ManifestRow.model_fields)}); unknown: {', '.join(unknown) or 'none'}"
                    )
                for n, record in enumerate(reader, start=1):
                    if None in record:
                        yield n, "more cells than the header has columns"
                        continue
                    fields: dict[str, Any] = {k: v.strip() for k, v in record.items() if v is not None and v.strip()}
                    if "photos" in fields:
                        fields["photos"] = [p.strip() for p in fields["photos"].split(PHOTO_SEPARATOR) if p.strip()]
                    yield n, fields
            elif suffix in (".jsonl", ".ndjson"):
                n = 0
                for line in fh:
                    if not line.strip():
                        continue
                    n += 1
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield n, f"not JSON ({exc.msg})"
                        continue
                    yield (n, obj) if isinstance(obj, dict) else (n, "not a JSON object")
            else:
                raise ConfigError(f"{path}: a manifest is .csv or .jsonl, not {suffix or 'a file without a suffix'}")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _problem(exc: ValidationError) -> str:
    """One line naming each bad field of a row."""
    parts = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "row"
        parts.append(f"{where}: {'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}")
    return "; ".join(parts)


def read_manifest(
    path: Path, rules: PrivacyRules, enrolment: EnrolmentConfig, at_head_office: bool = False
) -> tuple[list[Member], list[Verdict]]:
    """The manifest's valid members and a refusal for each bad row, validated once here.

    A row is refused, alone, for a bad or missing field, a consent that lacks what the privacy profile requires,
    a photo that is missing or outside the manifest's folder. A member id on several rows refuses all of them.
    At head office (``at_head_office``) a member of scope home needs their ``home_store``.

    Raises:
        ConfigError: the manifest cannot be read, has unknown CSV columns, or more than ``MAX_ROWS`` rows.
    """
    base = path.parent.resolve()
    members: list[Member] = []
    refused: list[Verdict] = []
    rows_of: dict[str, list[int]] = {}
    for n, raw in _raw_rows(path):
        if n > MAX_ROWS:
            raise ConfigError(f"{path}: more than {MAX_ROWS:,} rows; split the manifest")
        if isinstance(raw, str):
            refused.append(Verdict(n, None, "refused", raw))
            continue
        mid = raw.get("member_id") if isinstance(raw.get("member_id"), str) else None
        try:
            row = ManifestRow.model_validate(raw)
            info = MemberInfo(member_id=row.member_id, name=row.name)
            consent = Consent(
                reference=row.consent_reference,
                notice_version=row.notice_version or enrolment.notice_version,
                purpose=row.purpose or enrolment.purpose,
                minor=row.minor,
                guardian_reference=row.guardian_consent,
                separate=row.separate_consent,
                written_release=row.written_release,
                profile=rules.profile,
                scope=row.scope,
                share_visits=row.share_visits,
            )
            check_consent(consent, rules)
            if at_head_office and row.scope == "home" and row.home_store is None:
                raise EnrolmentError("home_store: required at head office for a member of scope home")
        except ValidationError as exc:
            refused.append(Verdict(n, mid, "refused", _problem(exc)))
            continue
        except EnrolmentError as exc:
            refused.append(Verdict(n, mid, "refused", str(exc).removeprefix("enrolment refused, member unchanged: ")))
            continue
        photos: list[Path] = []
        problems: list[str] = []
        for name in row.photos:
            photo = (base / name).resolve()
            if Path(name).is_absolute() or not photo.is_relative_to(base):
                problems.append(f"photo {name!r} is outside the manifest's folder")
            elif not photo.is_file():
                problems.append(f"photo {name!r} not found")
            else:
                photos.append(photo)
        if problems:
            refused.append(Verdict(n, row.member_id, "refused", "; ".join(problems)))
            continue
        rows_of.setdefault(row.member_id, []).append(n)
        members.append(Member(n, info, consent, tuple(photos), row.home_store))
    repeated = {mid: rows for mid, rows in rows_of.items() if len(rows) > 1}
    if repeated:
        kept = []
        for m in members:
            rows = repeated.get(m.info.member_id)
            if rows is None:
                kept.append(m)
                continue
            where = ", ".join(str(r) for r in rows)
            refused.append(Verdict(m.row, m.info.member_id, "refused", f"member id on several rows ({where})"))
        members = kept
    return members, sorted(refused, key=lambda v: v.row)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Stored(NamedTuple):
    """What a sink did with one member: enrolled (photos stored, notes), skipped or refused (and why)."""

    status: Literal["enrolled", "skipped", "refused"]
    photos: int
    notes: list[str]


class Sink(Protocol):
    """Where an import's members go: a store's gallery (:class:`GallerySink`) or head office's registry."""

    def photo_checksums(self) -> dict[str, set[str]]:
        """Each member's photo checksums held (a member whose photos are all held is skipped unread)."""
        ...

    def lookalikes(self, vectors: NDArray[np.float32]) -> tuple[list[str | None], NDArray[np.float32]]:
        """For each of N vectors (N, D), the closest member held and the similarity (N,)."""
        ...

    def lookalike_threshold(self) -> float:
        """Similarity at which a photo looks like another member."""
        ...

    def store(self, batch: list[tuple[Member, list[NewVector]]]) -> list[Stored]:
        """Store a batch of members at once (all or nothing); one result per member, in order."""
        ...


class GallerySink:
    """A store's gallery as an import's sink: one transaction and one index save per batch."""

    def __init__(self, gallery: Gallery) -> None:
        self.gallery = gallery

    def photo_checksums(self) -> dict[str, set[str]]:
        """Each enrolled member's photo checksums."""
        return self.gallery.photo_checksums()

    def lookalikes(self, vectors: NDArray[np.float32]) -> tuple[list[str | None], NDArray[np.float32]]:
        """The gallery's closest member to each vector (N, D), with the similarity (N,)."""
        matches = self.gallery.match(Embeddings(vectors, self.gallery.model))
        return list(matches.best_ids), matches.similarities

    def lookalike_threshold(self) -> float:
        """The gallery's look-alike threshold."""
        return self.gallery.policy.lookalike

    def store(self, batch: list[tuple[Member, list[NewVector]]]) -> list[Stored]:
        """Enrol the batch in one transaction."""
        results = self.gallery.enroll_many([(m.info, m.consent, vs) for m, vs in batch])
        return [Stored("enrolled", r.added_vectors, r.others_ignored + r.near_duplicates) for r in results]


class BulkImporter:
    """Enrols a manifest's members in batches: photos inspected in parallel, embedded together, stored together.

    Args:
        sink: where they go (a store's gallery, or head office).
        enroller: the enrolment checks over the one face path.
        lookalikes: "refuse" a photo that looks like another member (as ``gallery enroll`` does), or "note" it
            and enrol anyway (a manifest known to be right, or a synthetic one that reuses photos).
        batch: members per transaction.
        workers: threads that read and inspect photos.
    """

    def __init__(
        self,
        sink: Sink,
        enroller: Enroller,
        lookalikes: Literal["refuse", "note"] = "refuse",
        batch: int = BATCH,
        workers: int = 2,
    ) -> None:
        self.sink = sink
        self.enroller = enroller
        self.lookalikes = lookalikes
        self.batch = batch
        self.workers = workers

    def run(self, members: list[Member], progress: Callable[[int, int], None] | None = None) -> Iterator[Verdict]:
        """Enrol ``members``; yields one verdict per member, batch by batch."""
        held = self.sink.photo_checksums()
        todo: list[Member] = []
        done = 0
        for m in members:
            mine = held.get(m.info.member_id)  # a member not held yet is not worth reading twice
            if mine and {_sha256(p) for p in m.photos} <= mine:
                done += 1
                yield Verdict(m.row, m.info.member_id, "skipped", "already enrolled from the same photos")
                continue
            todo.append(m)
        chunks = [todo[i : i + self.batch] for i in range(0, len(todo), self.batch)]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="import") as pool:
            # The next batch's photos are read while this one is embedded and stored: both cores stay busy.
            ahead = [pool.submit(self._inspect, p) for m in chunks[0] for p in m.photos] if chunks else []
            for k, chunk in enumerate(chunks):
                inspected, ahead = ahead, []
                if k + 1 < len(chunks):
                    ahead = [pool.submit(self._inspect, p) for m in chunks[k + 1] for p in m.photos]
                yield from self._batch(chunk, [f.result() for f in inspected])
                done += len(chunk)
                if progress is not None:
                    progress(done, len(members))

    def _inspect(self, photo: Path) -> Inspected | str:
        try:
            return self.enroller.inspect(photo)
        except StoreLensError as exc:  # named as in the manifest's folder, not by where it was unpacked
            return str(exc).replace(str(photo), photo.name)

    def _batch(self, chunk: list[Member], inspected: list[Inspected | str]) -> list[Verdict]:
        verdicts: dict[int, Verdict] = {}
        ready: list[tuple[Member, list[Inspected]]] = []
        at = 0
        for m in chunk:
            looks = inspected[at : at + len(m.photos)]
            at += len(m.photos)
            problems = [
                x if isinstance(x, str) else f"{x.photo.name}: {x.check.problem}"
                for x in looks
                if isinstance(x, str) or x.chip is None
            ]
            if problems:
                verdicts[m.row] = Verdict(m.row, m.info.member_id, "refused", "; ".join(problems))
            else:
                ready.append((m, [x for x in looks if not isinstance(x, str)]))
        accepted = self._embed_and_check(ready, verdicts)
        if accepted:
            results = self.sink.store([(m, vs) for m, vs, _ in accepted])
            for (m, _, notes), done in zip(accepted, results, strict=True):
                said = "; ".join(notes + done.notes)
                verdicts[m.row] = Verdict(m.row, m.info.member_id, done.status, said, done.photos)
        return [verdicts[m.row] for m in chunk]

    def _embed_and_check(
        self, ready: list[tuple[Member, list[Inspected]]], verdicts: dict[int, Verdict]
    ) -> list[tuple[Member, list[NewVector], list[str]]]:
        """Embed every chip of the batch at once; refuse (or note) photos that look like another member."""
        if not ready:
            return []
        chips = np.stack([x.chip for _, xs in ready for x in xs if x.chip is not None])
        vecs = self.enroller.path.embed_chips(chips)
        owners = [m.info.member_id for m, xs in ready for _ in xs]
        best_ids, similarities = self.sink.lookalikes(vecs)
        lookalike = self.sink.lookalike_threshold()
        within = vecs @ vecs.T  # the batch's own members, not yet in the gallery
        out: list[tuple[Member, list[NewVector], list[str]]] = []
        taken: list[int] = []  # rows of ``vecs`` of the members accepted so far in this batch
        k = 0
        for m, xs in ready:
            news: list[NewVector] = []
            clashes: list[str] = []
            mine = list(range(k, k + len(xs)))
            for x in xs:
                other, sim = best_ids[k], float(similarities[k])
                if other is not None and other != m.info.member_id and sim >= lookalike:
                    clashes.append(f"{x.photo.name}: looks like enrolled member {other} (similarity {sim:.3f})")
                earlier = [j for j in taken if owners[j] != m.info.member_id]
                if earlier:
                    j = earlier[int(np.argmax(within[k, earlier]))]
                    if within[k, j] >= lookalike:
                        clashes.append(
                            f"{x.photo.name}: looks like member {owners[j]} earlier in this import "
                            f"(similarity {float(within[k, j]):.3f})"
                        )
                news.append(NewVector(vecs[k], x.sha256, x.photo, x.check.ignored))
                k += 1
            if clashes and self.lookalikes == "refuse":
                verdicts[m.row] = Verdict(m.row, m.info.member_id, "refused", "; ".join(clashes))
                continue
            taken += mine
            out.append((m, news, clashes))
        return out
