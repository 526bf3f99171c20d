"""The store's cameras for the console: what each is set to, its last status, and a calibration snapshot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc
from storelens.api.routers.locale import store_translator
from storelens.bounds import IDENT
from storelens.errors import StoreLensError
from storelens.web.locale import Lang

router = APIRouter(prefix="/cameras", tags=["cameras"])


class CameraStatus(BaseModel):
    """The camera's last retained status from the edge."""

    state: str = Field(description="online, reconnecting or offline")
    since: str
    fps: float
    detail: str
    software: str = Field(description="The box's StoreLens version")


class Camera(BaseModel):
    """One configured camera."""

    id: str
    source: str = Field(description="rtsp, file or device: never the address, which may hold a password")
    members_only: bool
    min_face_px: int
    analysis_fps: float
    has_roi: bool
    has_entry_line: bool
    status: CameraStatus | None = Field(description="null until the edge has said anything")


def _kind(source: str) -> str:
    if source.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    return "device" if source.isdigit() else "file"


@router.get("", response_model=list[Camera])
def cameras(svc: Svc, who: Admin) -> list[Camera]:
    """Every configured camera, with its last status."""
    out = []
    for c in svc.config.cameras:
        s = svc.camera_status.get(c.id)
        out.append(
            Camera(
                id=c.id,
                source=_kind(c.source),
                members_only=c.members_only,
                min_face_px=svc.config.min_face_px_for(c),
                analysis_fps=c.analysis_fps,
                has_roi=c.roi is not None,
                has_entry_line=c.entry_line is not None,
                status=CameraStatus(state=s.state, since=s.ts, fps=s.fps, detail=s.detail, software=s.software)
                if s
                else None,
            )
        )
    return out


@router.get("/{camera_id}/snapshot.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def camera_snapshot(
    camera_id: Annotated[str, Path(pattern=IDENT, max_length=64)],
    svc: Svc,
    who: Admin,
    lang: Lang = None,
) -> Response:
    """A frame with the region of interest, the entry line, the minimum face size and the verdict drawn.

    The image stays on this box: it is drawn for the manager's screen and not kept.
    """
    if not any(c.id == camera_id for c in svc.config.cameras):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")
    if svc.snapshot is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "snapshots are not available in this process")
    tr = store_translator(svc, lang)
    try:
        png = svc.snapshot(camera_id, tr)
    except StoreLensError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"camera {camera_id}: {exc}") from exc
    return Response(png, media_type="image/png")
