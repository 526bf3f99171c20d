"""The member platform's webhook as head office sees it: what waits, what was retried and why (admin only)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storelens.hq.access import Hq, HqAdmin

router = APIRouter(prefix="/chain", tags=["members"])


class MemberPlatform(BaseModel):
    """The outbox of members' visits and erasure notices for the chain's member platform (CRM/CDP)."""

    configured: bool = Field(description="A webhook URL is set (crm.webhook_url)")
    pending: int = Field(description="Deliveries waiting (each is sent by one head-office worker at a time)")
    retrying: int = Field(description="Waiting deliveries the platform has not taken at least once")
    delivered: int = Field(description="Visits the platform took, kept until the event history's retention")
    attempts: int = Field(description="Tries of the most tried waiting delivery")
    last_error: str = Field(description="Why the platform did not take it, the last time")


@router.get("/member-platform", response_model=MemberPlatform)
def member_platform(hq: Hq, who: HqAdmin) -> MemberPlatform:
    """The deliveries to the member platform: waiting, retried, delivered, and the last error."""
    state = hq.crm.state() if hq.crm is not None else {}
    empty = {"pending": 0, "retrying": 0, "delivered": 0, "attempts": 0, "last_error": ""}
    return MemberPlatform(configured=hq.config.crm.webhook_url is not None, **{**empty, **state})
