"""Who a member is and the consent their biometrics are kept under: the same records on a box and at head office."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from storelens.bounds import MemberId, Name
from storelens.clock import utc_now
from storelens.errors import EnrolmentError


def member_hash(member_id: str) -> str:
    """A one-way id for erasure logs and receipts, so that they never name an erased member."""
    return hashlib.sha256(("storelens-erasure:" + member_id).encode()).hexdigest()


class Consent(BaseModel):
    """The consent under which a member's biometrics are kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str = Field(max_length=200, description="Reference of the signed consent (form number, CRM record ...)")
    notice_version: str = Field(max_length=40, description="Version of the privacy notice the member agreed to")
    purpose: str = Field(max_length=80, description="What the biometrics are for")
    recorded_at: datetime = Field(default_factory=utc_now)
    minor: bool = Field(
        default=False,
        description="Member is under the guardian age of the privacy profile (privacy show): a guardian must consent",
    )
    guardian_reference: str | None = Field(default=None, max_length=200, description="Guardian's consent reference")
    separate: bool = Field(
        default=False, description="Consent to face recognition was given on its own, not within other terms"
    )
    written_release: str | None = Field(
        default=None, max_length=200, description="Reference of the member's signed written release (BIPA)"
    )
    profile: str = Field(default="custom", max_length=20, description="Privacy profile in force when recorded")
    share_visits: bool = Field(
        default=False,
        description="The member agreed that their store visits (when, where, who served them, whether they "
        "bought) go to the chain's member platform for follow-up",
    )
    scope: Literal["home", "chain"] = Field(
        default="home",
        description="Where the member agreed to be recognised: home (the store that enrolled them) or chain (every "
        "store of the chain: head office sends their vectors to the other boxes)",
    )

    @model_validator(mode="after")
    def _required(self) -> Consent:
        if not self.reference.strip():
            raise EnrolmentError("a consent reference is required (--consent): no biometrics without consent")
        if self.minor and not (self.guardian_reference or "").strip():
            raise EnrolmentError(
                "member marked as a minor: a guardian consent reference is required (--guardian-consent)"
            )
        return self


class MemberInfo(BaseModel):
    """Who is being enrolled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    member_id: MemberId
    name: Name = ""
    kind: Literal["member", "staff"] = Field(
        default="member", description="staff: on the staff list, never announced and never counted as a visitor"
    )


def shares_visits(consent: Consent | None, unknown: bool) -> bool:
    """Whether a member's visits may go to the chain's member platform (``Consent.share_visits``).

    Args:
        consent: the member's consent where it is known here, else None.
        unknown: the answer where it is not known: a box, which holds every consent it enrols under, shares no
            visit of an unknown member; head office, which may not hold a store-enrolled member's consent,
            relies on the box that sent the visit having checked it.
    """
    return unknown if consent is None else consent.share_visits
