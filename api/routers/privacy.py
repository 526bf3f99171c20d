"""The privacy rules the console needs: what a consent must hold under the store's profile, and the access log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from storelens.api.auth import Admin, Svc

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
    """One read of a member's data."""

    at: str
    member: str = Field(description="The member id, or the erasure receipt's id once the member is erased")
    who: str
    role: str
    what: str
    why: str


@router.get("/access-log", response_model=list[AccessRow])
def access_log(svc: Svc, who: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[AccessRow]:
    """The latest reads of members' data, newest first (who, what, when, why)."""
    return [AccessRow(**row) for row in svc.books.access.recent(limit)]
