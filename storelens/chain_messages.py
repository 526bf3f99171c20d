"""Head office <-> box messages: member changes sent down, receipts sent up (versioned, the same at both ends).

Topics live under the store's own root, on camera ids that begin with ``_`` (never a camera's):
``storelens/v1/{store}/_hq/member`` carries head office's changes to one store's gallery, and
``storelens/v1/{store}/_box/receipt`` the box's receipts. The store broker's bridge carries the first in and
the second out; the central broker's ACL lets only head office write the first, and only that store's
bridge the second.

A change is idempotent and ordered by ``version`` (head office's counter, increasing over every change of
every member): a box applies a change only when it is newer than what it holds for that member, answers
every delivery with a receipt (``applied``, ``already`` or ``refused``), and head office sends again until
it has one. An erasure carries the member id and no biometrics; a receipt names the member only by
:func:`storelens.members.member_hash`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from storelens.bounds import Count, EventId, Ident, MemberId, Name, Timestamp
from storelens.clock import now_iso
from storelens.edge_events import TOPIC_ROOT, new_event_id
from storelens.members import Consent, MemberInfo, member_hash

CHAIN_VERSION = 1
COMMANDS = "_hq"  # camera-level name of head office's commands to a store
RECEIPTS = "_box"  # ... and of the store's answers
MAX_VECTORS = 20  # per member: the enrolment photos of one person
MAX_DIM = 1024
MAX_VERSION = 2**31 - 1  # head office's counter (a 32-bit column); only signed changes carry one
Scope = Literal["home", "stores", "chain"]


def command_topic(store_id: str) -> str:
    """``storelens/v1/{store}/_hq/member``: head office's gallery changes for one store."""
    return f"{TOPIC_ROOT}/{store_id}/{COMMANDS}/member"


def receipt_topic(store_id: str = "+") -> str:
    """``storelens/v1/{store}/_box/receipt`` (``+``: every store's, head office's subscription)."""
    return f"{TOPIC_ROOT}/{store_id}/{RECEIPTS}/receipt"


def report_topic(store_id: str = "+") -> str:
    """``storelens/v1/{store}/_box/member``: what a box did to its own members (``+``: every store's)."""
    return f"{TOPIC_ROOT}/{store_id}/{RECEIPTS}/member"


def visit_topic(store_id: str = "+") -> str:
    """``storelens/v1/{store}/_box/visit``: members' closed visits, for the chain's member platform."""
    return f"{TOPIC_ROOT}/{store_id}/{RECEIPTS}/visit"


def status_topic(store_id: str = "+") -> str:
    """``storelens/v1/{store}/_box/status``: the box's cameras' statuses, signed, for head office's boxes page."""
    return f"{TOPIC_ROOT}/{store_id}/{RECEIPTS}/status"


def box_topics(store_id: str) -> list[str]:
    """Every topic a store's box writes to head office besides its events.

    Receipts, member reports, visits and camera statuses, each signed by the box's key: head office acts on none
    that the key registered for the store did not sign.
    """
    return [receipt_topic(store_id), report_topic(store_id), visit_topic(store_id), status_topic(store_id)]


def encode_vectors(vectors: NDArray[np.float32]) -> tuple[str, ...]:
    """(K, D) float32 vectors as K base64 strings (little-endian float32)."""
    return tuple(base64.b64encode(np.ascontiguousarray(v, dtype="<f4").tobytes()).decode() for v in vectors)


def decode_vectors(vectors: tuple[str, ...], dim: int | None = None) -> NDArray[np.float32]:
    """K base64 strings (little-endian float32) as a (K, D) float32 array of unit vectors.

    Args:
        vectors: what :func:`encode_vectors` made.
        dim: D, the recogniser's size; None: the first vector's.

    Raises:
        ValueError: a vector is not base64 of ``dim`` finite float32 values of unit length.
    """
    if dim is not None and not 1 <= dim <= MAX_DIM:
        raise ValueError(f"dimension {dim} out of range")
    rows = []
    for i, text in enumerate(vectors):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"vectors[{i}]: not base64") from exc
        if dim is None:  # the first vector's size, bounded as a given one
            dim = len(raw) // 4
            if not 1 <= dim <= MAX_DIM:
                raise ValueError(f"dimension {dim} out of range")
        if len(raw) != 4 * dim:
            raise ValueError(f"vectors[{i}]: {len(raw) // 4} values, the recogniser makes {dim}")
        vec = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.all(np.isfinite(vec)) or abs(float(np.linalg.norm(vec)) - 1.0) > 1e-3:
            raise ValueError(f"vectors[{i}]: not a finite unit vector")
        rows.append(vec)
    return np.stack(rows)


class MemberChange(BaseModel):
    """One change of one member's presence in one store's gallery, from head office."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=CHAIN_VERSION, ge=1, le=CHAIN_VERSION, description="Payload schema version")
    change_id: EventId = Field(default_factory=new_event_id, description="UUID; the receipt names it")
    store_id: Ident
    member_id: MemberId
    version: int = Field(ge=1, le=MAX_VERSION, description="Head office's order of changes; newer wins")
    op: Literal["upsert", "erase"]
    reason: str = Field(default="", max_length=200, description="Why an erasure: request, retention, consent scope")
    model: str = Field(default="", max_length=80, description="Recogniser the vectors belong to (upsert)")
    vectors: tuple[str, ...] = Field(default=(), max_length=MAX_VECTORS, description="base64 float32, L2-normalised")
    member: MemberInfo | None = None
    consent: Consent | None = None
    ts: Timestamp = Field(default_factory=now_iso)

    @model_validator(mode="after")
    def _complete(self) -> MemberChange:
        if self.op == "upsert":
            if not (self.model and self.vectors and self.member and self.consent):
                raise ValueError("an upsert needs model, vectors, member and consent")
            if self.member.member_id != self.member_id:
                raise ValueError("member.member_id differs from member_id")
        elif self.vectors or self.member or self.consent:
            raise ValueError("an erasure carries no vectors, member or consent")
        return self

    def decoded(self, dim: int) -> NDArray[np.float32]:
        """The vectors as a (K, D) float32 array (:func:`decode_vectors`).

        Raises:
            ValueError: a vector is not base64 of ``dim`` finite float32 values of unit length.
        """
        return decode_vectors(self.vectors, dim)


class BoxReceipt(BaseModel):
    """A box's answer to one :class:`MemberChange`: what it did and what it now holds of that member."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=CHAIN_VERSION, ge=1, le=CHAIN_VERSION)
    receipt_id: EventId = Field(default_factory=new_event_id)
    store_id: Ident
    change_id: EventId
    member_ref: str = Field(pattern=r"^[0-9a-f]{64}$", description="member_hash of the member: never the id")
    version: int = Field(ge=1, le=MAX_VERSION)
    op: Literal["upsert", "erase"]
    outcome: Literal["applied", "already", "refused"] = Field(
        description="applied now; already (this or a newer version was applied before); refused (detail says why)"
    )
    detail: str = Field(default="", max_length=300)
    held_vectors: Count = Field(description="Vectors of this member the box holds after the change")
    removed: dict[Ident, Count] = Field(default_factory=dict, max_length=12, description="Erasure: what went, by kind")
    ts: Timestamp = Field(default_factory=now_iso)


class MemberReport(BaseModel):
    """What a box did to a member on its own, reported to head office (signed with the box's key).

    ``enrolled``: consent given at this store's counter, with the vectors made there; head office records the
    member and sends them to the other stores the consent's scope covers. ``erased``: the member asked this
    store to forget them; head office erases them chain-wide (with receipts, as for its own erasures).
    ``purged``: this box's retention purge removed them; head office's records for this store follow.
    Sent again until head office's :class:`ReportNoted` arrives.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=CHAIN_VERSION, ge=1, le=CHAIN_VERSION)
    report_id: EventId = Field(default_factory=new_event_id)
    store_id: Ident
    member_ref: str = Field(pattern=r"^[0-9a-f]{64}$", description="member_hash of the member")
    member_id: MemberId | None = Field(default=None, description="An enrolment only: an erased member is not named")
    op: Literal["enrolled", "erased", "purged"]
    reason: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=80)
    vectors: tuple[str, ...] = Field(default=(), max_length=MAX_VECTORS)
    member: MemberInfo | None = None
    consent: Consent | None = None
    ts: Timestamp = Field(default_factory=now_iso)

    @model_validator(mode="after")
    def _complete(self) -> MemberReport:
        if self.op == "enrolled":
            if not (self.member_id and self.model and self.vectors and self.member and self.consent):
                raise ValueError("an enrolment needs member_id, model, vectors, member and consent")
            if self.member.member_id != self.member_id or member_hash(self.member_id) != self.member_ref:
                raise ValueError("member.member_id or member_ref differs from member_id")
        elif self.member_id or self.vectors or self.member or self.consent:
            raise ValueError("an erasure or purge names the member by member_ref only, and carries nothing else")
        return self

    def decoded(self) -> NDArray[np.float32]:
        """The vectors as a (K, D) float32 array, D as the box's recogniser made them (:func:`decode_vectors`).

        Raises:
            ValueError: a vector is not base64 of finite float32 values of unit length, all of one size.
        """
        return decode_vectors(self.vectors)


class ReportNoted(BaseModel):
    """Head office's answer to a :class:`MemberReport` (signed like its commands): the box may forget the report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=CHAIN_VERSION, ge=1, le=CHAIN_VERSION)
    store_id: Ident
    report_id: EventId
    outcome: str = Field(default="", max_length=300, description="What head office did with it")
    ts: Timestamp = Field(default_factory=now_iso)


class VisitRecord(BaseModel):
    """One member's visit to a store, closed, for the chain's member platform (CRM/CDP) through head office.

    Sent by the box once the visit's window has passed, only for a member whose consent covers it
    (``Consent.share_visits``); its id is the arrival's event id, so every copy is the same visit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=CHAIN_VERSION, ge=1, le=CHAIN_VERSION)
    visit_id: EventId = Field(description="The arrival's event id: deliveries are idempotent by it")
    store_id: Ident
    camera_id: Ident
    member_id: MemberId
    arrived_at: Timestamp
    window_minutes: int = Field(ge=1, le=1440, description="How long after the arrival the visit was judged over")
    served_by: Name | None = Field(default=None, description="The associate who took the arrival on the iPad")
    served_at: Timestamp | None = None
    bought: bool = Field(description="A sale to the member at this store within the window")
    spent_minor: int = Field(default=0, ge=0, le=10**12, description="What they spent then, in minor units")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    ts: Timestamp = Field(default_factory=now_iso)
