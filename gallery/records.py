"""Gallery records: what is kept about a member, their consent, and what erasure removed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from storelens.bounds import MemberId
from storelens.clock import utc_now
from storelens.errors import EnrolmentError
from storelens.privacy import PrivacyRules


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

    @model_validator(mode="after")
    def _required(self) -> Consent:
        if not self.reference.strip():
            raise EnrolmentError("a consent reference is required (--consent): no biometrics without consent")
        if self.minor and not (self.guardian_reference or "").strip():
            raise EnrolmentError(
                "member marked as a minor: a guardian consent reference is required (--guardian-consent)"
            )
        return self


def check_consent(consent: Consent, rules: PrivacyRules) -> None:
    """Refuse a consent record that lacks what the privacy profile in force requires.

    Raises:
        EnrolmentError: naming each missing item; nothing has been stored.
    """
    problems = rules.consent_problems(consent.separate, consent.written_release)
    if problems:
        raise EnrolmentError("enrolment refused, member unchanged: " + "; ".join(problems))
    if consent.profile != rules.profile:
        raise EnrolmentError(
            f"consent recorded under privacy profile {consent.profile}, but this box applies {rules.profile}"
        )


class MemberInfo(BaseModel):
    """Who is being enrolled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    member_id: MemberId
    name: str = Field(default="", max_length=200)
    kind: Literal["member", "staff"] = Field(
        default="member", description="staff: on the staff list, never announced and never counted as a visitor"
    )


class MemberRecord(BaseModel):
    """A member as listed."""

    model_config = ConfigDict(frozen=True)

    member_id: str
    name: str
    vectors: int
    enrolled_at: str
    last_seen_at: str | None
    consent_reference: str
    notice_version: str
    purpose: str
    kind: str
    minor: bool
    separate: bool
    written_release: str | None
    profile: str


class EnrolmentResult(BaseModel):
    """What an enrolment stored."""

    model_config = ConfigDict(frozen=True)

    member_id: str
    added_vectors: int
    total_vectors: int
    near_duplicates: list[str] = Field(description="Photos not stored again, with what they duplicate")
    photos_kept: int


class DeletionReceipt(BaseModel):
    """Proof of an erasure: what was removed, when."""

    model_config = ConfigDict(frozen=True)

    member_id: str
    removed_vectors: int
    removed_photos: int
    removed_consents: int
    removed_metadata: bool
    at: str
    reason: str
