"""The store's members as a list a manager pages through and sorts, with erase and export from each row."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc

router = APIRouter(prefix="/member-list", tags=["members"])
Sort = Literal["name", "member_id", "enrolled_at", "last_seen_at", "consent_reference"]


class ListedMember(BaseModel):
    """A member as the list shows them: profile, face enrolment and consent."""

    member_id: str
    name: str
    tier: str | None
    vectors: int = Field(description="Face vectors in the gallery: 0 when no face is enrolled")
    enrolled_at: str | None
    last_seen_at: str | None = Field(description="The latest arrival announced")
    consent_reference: str | None = Field(description="The signed consent's reference (None: no face enrolled)")
    purpose: str | None


class MemberPage(BaseModel):
    """One page of the list."""

    total: int = Field(description="Members in all")
    offset: int
    rows: list[ListedMember]


@router.get("", response_model=MemberPage)
def member_list(
    svc: Svc,
    who: Admin,
    sort: Annotated[Sort, Query()] = "name",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemberPage:
    """Every member, a page at a time, sorted; each row listed is in the access log (a listing)."""
    total, rows = svc.member_list(sort, order == "desc", offset, limit)
    for row in rows:
        svc.log_read(row["member_id"], who, "listing", "admin")
    return MemberPage(total=total, offset=offset, rows=[ListedMember(**r) for r in rows])
