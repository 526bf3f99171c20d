"""Members enrolled in bulk from the console: a manifest and a zip of photos (admin), imported in the background."""

from __future__ import annotations

import shutil
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, UploadFile, status
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc
from storelens.api.member_imports import ImportJob, unpack_photos, upload_folder
from storelens.api.routers.members import save_bounded
from storelens.errors import StoreLensError

router = APIRouter(prefix="/member-imports", tags=["member imports"])
PAGE = 500  # verdicts per poll


class RowVerdict(BaseModel):
    """What happened to one row of the manifest."""

    row: int
    member_id: str | None
    status: Literal["enrolled", "skipped", "refused"]
    reason: str = Field(description="Why it was refused or skipped, or what was noted; empty when nothing")
    photos: int


class ImportStatus(BaseModel):
    """Where an import stands."""

    id: str
    state: Literal["running", "done", "failed"]
    total: int = Field(description="Members of the manifest's valid rows")
    done: int
    enrolled: int
    skipped: int
    refused: int
    error: str
    verdicts: list[RowVerdict] = Field(description=f"Verdicts from ``since``, at most {PAGE}")
    next: int = Field(description="``since`` for the next poll")


def _status(job: ImportJob, since: int) -> ImportStatus:
    verdicts = list(job.verdicts)
    counts = {s: sum(v.status == s for v in verdicts) for s in ("enrolled", "skipped", "refused")}
    page = verdicts[since : since + PAGE]
    return ImportStatus(
        id=job.id,
        state=job.state,
        total=job.total,
        done=job.done,
        error=job.error,
        verdicts=[RowVerdict(**v.as_dict()) for v in page],
        next=since + len(page),
        **counts,
    )


@router.post("", response_model=ImportStatus, status_code=status.HTTP_202_ACCEPTED)
def start_import(
    svc: Svc,
    who: Admin,
    manifest: Annotated[UploadFile, File(description="CSV (header row; photos separated by ';') or .jsonl")],
    photos: Annotated[UploadFile, File(description="A zip of the photos the manifest names, by their paths")],
    allow_lookalikes: Annotated[bool, Form()] = False,
) -> ImportStatus:
    """Check the manifest and the zip, then enrol the members in the background; poll ``GET /{id}``."""
    from storelens.gallery.bulk import BulkImporter, GallerySink, read_manifest
    from storelens.gallery.enrol import Enroller

    jobs = svc.member_imports
    if jobs.running():
        raise HTTPException(status.HTTP_409_CONFLICT, "an import is under way; wait for it to finish")
    suffix = FilePath(manifest.filename or "").suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "manifest: a .csv or .jsonl file")
    api = svc.config.api
    folder = upload_folder()
    try:
        archive = folder / ".photos.zip"
        save_bounded(photos, archive, api.max_import_bytes, "api.max_import_bytes")
        unpack_photos(archive, folder, api.max_import_files, api.max_import_unpacked_bytes)
        archive.unlink()
        listed = folder / f".manifest{suffix}"
        save_bounded(manifest, listed, api.max_upload_bytes, "api.max_upload_bytes")
        config = svc.config
        members, refused = read_manifest(listed, config.privacy_rules(), config.enrolment)
        importer = BulkImporter(
            GallerySink(svc.gallery()),
            Enroller(svc.face_path(), config.enrolment, config.privacy_rules()),
            lookalikes="note" if allow_lookalikes else "refuse",
        )
    except StoreLensError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc).replace(f"{folder}/", "")) from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _status(jobs.start(folder, members, refused, importer.run), 0)


@router.get("/{job_id}", response_model=ImportStatus)
def import_status(
    svc: Svc,
    who: Admin,
    job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
    since: Annotated[int, Query(ge=0, le=10_000_000, description="Verdicts already shown")] = 0,
) -> ImportStatus:
    """Progress and verdicts of an import (the last few are remembered)."""
    job = svc.member_imports.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such import (only the last few are remembered)")
    return _status(job, since)
