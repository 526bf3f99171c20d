"""Gallery records: what is kept about a member, their consent, and what erasure removed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from storelens.errors import EnrolmentError
from storelens.members import Consent as Consent
from storelens.members import MemberInfo as MemberInfo
from storelens.privacy import PrivacyRules


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
    others_ignored: list[str] = Field(
        default_factory=list, description="Photos with other faces besides the member's (the subject), ignored"
    )


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
