"""The privacy rules the console needs: what a consent must hold under the store's profile, and the access log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc
from storelens.api.services import PURPOSES

router = APIRouter(prefix="/privacy", tags=["privacy"])


class ConsentRules(BaseModel):
    """What an enrolment's consent must hold under the store's privacy profile (the form asks for these)."""

    profile: str
    separate_consent: bool = Field(description="The consent must be given on its own, not within other terms")
    written_release: bool = Field(description="A signed written release's reference is required")
    guardian_age: int = Field(description="Below this age a guardian's consent is required")
    notice_version: str
    purpose: str
    recognising: bool = Field(description="Some camera recognises members under these rules")


@router.get("/consent", response_model=ConsentRules)
def consent_rules(svc: Svc, who: Admin) -> ConsentRules:
    """The consent an enrolment needs here, from the effective privacy rules."""
    rules = svc.config.privacy_rules()
    return ConsentRules(
        profile=rules.profile,
        separate_consent=rules.separate_consent,
        written_release=rules.written_release,
        guardian_age=rules.guardian_age,
        notice_version=svc.config.enrolment.notice_version,
        purpose=svc.config.enrolment.purpose,
        recognising=bool(rules.recognising_cameras),
    )


class AccessRow(BaseModel):
    """One read of a member's data, or (grouped) the same read repeated."""

    at: str = Field(description="When (the latest, for a group)")
    member: str = Field(
        description='The member id, or the erasure receipt\'s id once the member is erased; "" for a grouped listing '
        "of several members"
    )
    who: str
    role: str
    what: str
    why: str
    count: int = Field(default=1, description="Reads in the group: the same reader, member, what and why in a row")
    first_at: str = Field(default="", description="The group's earliest read")


GROUP_SCAN = 5000  # raw reads looked at for one grouped page


@router.get("/access-log", response_model=list[AccessRow])
def access_log(
    svc: Svc,
    who: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    reader: Annotated[str | None, Query(min_length=1, max_length=128, description="that reader's reads")] = None,
    why: Annotated[str | None, Query(pattern="^(" + "|".join(PURPOSES) + ")$", description="that purpose")] = None,
    grouped: Annotated[bool, Query(description="repeated reads in a row as one line with their count")] = False,
) -> list[AccessRow]:
    """The latest reads of members' data, newest first (who, what, when, why), filtered by reader and purpose.

    Grouped, the same reader reading the same member's same data for the same purpose in a row (an iPad's card
    shown on each page load) is one line with its count, and so is a page of the members list, so the reads that
    stand out are not buried.
    """
    if not grouped:
        return [AccessRow(**row) for row in svc.books.access.recent(limit, reader, why)]
    out: list[AccessRow] = []
    for row in svc.books.access.recent(GROUP_SCAN, reader, why):
        last = out[-1] if out else None
        same = last is not None and (last.who, last.what, last.why) == (row["who"], row["what"], row["why"])
        if last is not None and same and (last.member == row["member"] or row["what"] == "listing"):
            last.count += 1
            last.first_at = row["at"]
            if last.member != row["member"]:  # a listing of several members: one line, "" for the members
                last.member = ""
            continue
        if len(out) == limit:
            break
        out.append(AccessRow(**row, first_at=row["at"]))
    return out


@router.get("/access-log/readers", response_model=list[str])
def readers(svc: Svc, who: Admin) -> list[str]:
    """Every reader the access log holds (token names), for the console's filter."""
    return svc.books.access.readers()
