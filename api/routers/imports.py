"""CRM members, the catalogue and POS transactions in, through the API (admin only): one file per request."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, UploadFile, status
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc
from storelens.errors import StoreLensError

router = APIRouter(prefix="/imports", tags=["imports"])


class ImportResult(BaseModel):
    """What an import stored."""

    kind: str
    source: str
    records: int
    added: int
    changed: int = Field(description="Members or products whose content differed from what was held")
    unchanged: int = Field(description="Already held as they are (a re-import changes nothing)")


@router.post("/{kind}", response_model=ImportResult)
def import_file(
    kind: Literal["members", "products", "transactions"],
    svc: Svc,
    who: Admin,
    file: Annotated[UploadFile, File(description="CSV (header row) or JSON lines (.jsonl): the manual, Imports")],
) -> ImportResult:
    """Import one file, all or nothing; a rejected file names its bad rows and fields, and nothing is kept.

    Value segments and recommendations are recomputed in the background afterwards.
    """
    try:
        report = svc.books.commerce.import_file(kind, file.file, file.filename or "upload")
    except StoreLensError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if not report.imported:
        more = f"; and {report.rejected - 10} more" if report.rejected > 10 else ""
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{report.source}: nothing imported, {report.rejected} of {report.records} record(s) rejected: "
            + "; ".join(report.rejects[:10])
            + more,
        )
    svc.after_import()
    return ImportResult(**{k: getattr(report, k) for k in ImportResult.model_fields})
