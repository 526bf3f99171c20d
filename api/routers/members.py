"""Members: the card an associate sees, and the admin's profile, enrolment by photo and erasure."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError

from storelens.api.auth import Admin, Associate, Svc
from storelens.bounds import MEMBER_ID, Prose, Text
from storelens.errors import StoreLensError, first_error
from storelens.gallery.records import Consent, EnrolmentResult
from storelens.i18n import N_
from storelens.web.auth import Principal
from storelens.web.pages import Shown, refused

MemberPath = Annotated[str, Path(min_length=1, max_length=128, pattern=MEMBER_ID, description="The CRM member id")]

router = APIRouter(prefix="/members", tags=["members"])


class Purchase(BaseModel):
    """One of the member's last purchases."""

    time: str
    store_id: str
    amount: float
    currency: str
    items: list[str]


class Recommendation(BaseModel):
    """A product to show the member, and why."""

    sku: str
    name: str
    category: str
    reason: str = Field(description='e.g. "bought by customers who bought Classic shirt 2", "new in your size (M)"')
    reason_message: str = Field(default="", description="The reason as a catalogued message (English source)")
    reason_params: dict[str, str] = Field(default_factory=dict, description="The message's values")


class ValueScores(BaseModel):
    """RFM scores, 1 (lowest fifth of members) to 5 (highest fifth)."""

    purchasing_power: int = Field(description="M: spend over 12 months")
    loyalty: int = Field(description="F: purchases over 12 months")
    willingness: int = Field(description="R: how recently they bought")


class CurrencySpend(BaseModel):
    """A member's 12-month receipts in one currency other than the store's."""

    currency: str
    spend: float | None
    purchases: int


class MemberCard(BaseModel):
    """What helps an associate serve a member."""

    member_id: str
    name: str
    tier: str
    sizes: dict[str, str]
    preferences: str
    notes: str
    member_code: str | None
    photo_url: str | None = Field(description="Only when the member consented to a card photo")
    last_visit: str | None
    visits: int
    currency: str = Field(description="store.currency: spend and baskets are in it")
    spend_12m: float | None
    purchases_12m: int = Field(description="Receipts in store.currency over 12 months (spend_12m is their sum)")
    other_currencies: list[CurrencySpend] = Field(description="Receipts in other currencies, summed in each")
    average_basket: float | None
    segment: str | None = Field(description="RFM value segment (the manual: the rule); null until first computed")
    value_scores: ValueScores | None
    last_purchases: list[Purchase]
    favourite_categories: list[str]
    sizes_bought: dict[str, str] = Field(description="Most bought size per category")
    recommendations: list[Recommendation]


class MemberIn(BaseModel):
    """A member profile as the admin edits it."""

    name: Text = Field(min_length=1, max_length=200)
    tier: Text = Field(default="", max_length=40)
    phone: Text | None = Field(default=None, max_length=40)
    member_code: Text | None = Field(default=None, max_length=64)
    sizes: dict[Annotated[Text, Field(max_length=64)], Annotated[Text, Field(max_length=20)]] = Field(
        default_factory=dict, max_length=20, description='e.g. {"shoes": "42", "shirt": "M"}'
    )
    preferences: Prose = Field(default="", max_length=2000)
    notes: Prose = Field(default="", max_length=2000)
    photo_consent: bool = Field(default=False, description="The member agreed to a card photo on the iPad")


class ErasureReceipt(BaseModel):
    """What erasure removed, and when."""

    receipt_id: str = Field(description="The access log keeps who read the member under this id")
    member_id: str
    at: str
    removed: dict[str, int]


class MemberRow(BaseModel):
    """A member as the console lists them."""

    member_id: str
    name: str
    tier: str
    member_code: str | None
    vectors: int = Field(description="Face vectors in the gallery: 0 when the member is not enrolled")


class PhotoVerdict(BaseModel):
    """The enrolment checks on one photo, before anything is stored."""

    usable: bool
    problem: str | None = Field(description="Why the photo would be refused, in words; null when usable")
    code: str | None = Field(
        description="The reason: no-face, many-faces (none dominates), too-small, low-confidence, blurred, turned, "
        "tilted, exposure"
    )
    faces: int
    ignored: int = Field(description="Other faces in the photo, not the member's: ignored")
    width: float | None = Field(description="The face's width in pixels")
    score: float | None = Field(description="Detector confidence")
    sharpness: float | None
    yaw: float | None = Field(description="0 is frontal")
    pitch: float | None


@router.get("", response_model=list[MemberRow])
def search(
    svc: Svc,
    who: Admin,
    q: Annotated[str, Query(min_length=1, max_length=80, description="Part of a name, member id, code or phone")],
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> list[MemberRow]:
    """Members whose profile or gallery entry holds ``q``; each listing is in the access log."""
    rows = [MemberRow(**row) for row in svc.search_members(q, limit)]
    for row in rows:
        svc.log_read(row.member_id, who, "listing", "search")
    return rows


@router.post("/photo-check", response_model=PhotoVerdict)
def photo_check(
    svc: Svc, who: Admin, photo: Annotated[UploadFile, File(description="One photo, one face")]
) -> PhotoVerdict:
    """The enrolment checks' verdict on a photo (faces, size, confidence, sharpness, pose); nothing is kept."""
    with tempfile.TemporaryDirectory() as tmp:
        name = SAFE_NAME.sub("_", FilePath(photo.filename or "photo.jpg").name)[-60:]
        path = FilePath(tmp) / name
        save_bounded(photo, path, svc.config.api.max_upload_bytes)
        try:
            verdict = svc.check_photo(path)
        except StoreLensError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc).replace(tmp + "/", "")) from exc
    q = verdict.quality
    return PhotoVerdict(
        usable=verdict.problem is None,
        problem=verdict.problem,
        code=verdict.code,
        faces=verdict.faces,
        ignored=verdict.ignored,
        width=round(q.width, 1) if q else None,
        score=round(q.score, 3) if q else None,
        sharpness=round(q.sharpness, 1) if q else None,
        yaw=round(q.yaw, 3) if q else None,
        pitch=round(q.pitch, 3) if q else None,
    )


def _card(svc: Svc, member_id: str, who: Principal, why: str) -> MemberCard:
    if svc.books.commerce.member(member_id) is None and not svc.books.events.visits(member_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no member {member_id!r}")
    svc.log_read(member_id, who, "card", why)
    return MemberCard(**svc.card(member_id))


@router.get("/lookup", response_model=MemberCard)
def lookup(
    svc: Svc,
    who: Associate,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
) -> MemberCard:
    """Find a member by phone number or member code (no face needed)."""
    if not phone and not code:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give phone or code")
    found = svc.books.commerce.find_member(phone=phone, code=code)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no member with that phone number or code")
    return _card(svc, found["member_id"], who, "lookup")


@router.get("/{member_id}", response_model=MemberCard)
def card(member_id: MemberPath, svc: Svc, who: Associate) -> MemberCard:
    """A member's card."""
    return _card(svc, member_id, who, "lookup")


@router.put("/{member_id}", response_model=MemberCard)
def put_member(member_id: MemberPath, body: MemberIn, svc: Svc, who: Admin) -> MemberCard:
    """Create or edit a member's profile."""
    svc.books.commerce.put_member(member_id, body.model_dump())
    return _card(svc, member_id, who, "admin")


class ConsentRecord(BaseModel):
    """The consent under which a member's biometrics are kept (from the gallery)."""

    member_id: str
    consent_reference: str
    notice_version: str
    purpose: str
    minor: bool
    separate: bool
    written_release: str | None
    profile: str = Field(description="Privacy profile in force when the consent was recorded")
    enrolled_at: str
    vectors: int


@router.get("/{member_id}/consent", response_model=ConsentRecord)
def consent_record(member_id: MemberPath, svc: Svc, who: Admin) -> ConsentRecord:
    """The member's latest consent record and how many face vectors it covers."""
    record = svc.gallery().templates.member(member_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{member_id!r} has no biometrics enrolled")
    svc.log_read(member_id, who, "consent", "admin")
    return ConsentRecord(**record.model_dump(include=set(ConsentRecord.model_fields)))


@router.get("/{member_id}/photo", response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
def photo(member_id: MemberPath, svc: Svc, who: Associate) -> FileResponse:
    """The card photo, only when the member consented to one."""
    profile = svc.books.commerce.member(member_id)
    if not profile or not profile["photo_consent"] or not profile["photo"] or not FilePath(profile["photo"]).is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no card photo for this member")
    svc.log_read(member_id, who, "photo", "lookup" if who.role == "associate" else "admin")
    return FileResponse(profile["photo"], media_type="image/jpeg")


MAX_PHOTOS = 20
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def save_bounded(upload: UploadFile, path: FilePath, limit: int, setting: str = "api.max_upload_bytes") -> None:
    """Copy an upload to ``path``, refusing it (413) once it passes ``limit`` bytes (chunked uploads too)."""
    written = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise Shown(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    N_("{file} is larger than the {mib} MiB accepted ({setting})."),
                    file=upload.filename or "photo",
                    mib=limit // (1 << 20),
                    setting=setting,
                )
            out.write(chunk)


@router.post("/{member_id}/enrol", response_model=EnrolmentResult)
def enrol(
    member_id: MemberPath,
    svc: Svc,
    who: Admin,
    photos: Annotated[list[UploadFile], File(description="One or more photos, one face each")],
    consent: Annotated[str, Form(description="Reference of the member's signed consent")],
    notice_version: Annotated[str | None, Form(description="Default: enrolment.notice_version")] = None,
    purpose: Annotated[str | None, Form(description="Default: enrolment.purpose")] = None,
    minor: Annotated[bool, Form(description="Under the privacy profile's guardian age")] = False,
    guardian_consent: Annotated[str | None, Form(description="The guardian's consent reference")] = None,
    separate_consent: Annotated[bool, Form(description="Consent given on its own, not within other terms")] = False,
    written_release: Annotated[str | None, Form(description="Reference of the signed written release")] = None,
    scope: Annotated[
        Literal["home", "chain"],
        Form(description="Where the member agreed to be recognised: this store (home) or every store (chain)"),
    ] = "home",
    share_visits: Annotated[
        bool, Form(description="The member agreed that their visits go to the chain's member platform (CRM)")
    ] = False,
) -> EnrolmentResult:
    """Enrol a member from uploaded photos (all or nothing, with consent)."""
    if len(photos) > MAX_PHOTOS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"photos: at most {MAX_PHOTOS} per enrolment")
    defaults = svc.config.enrolment  # the same defaults as `storelens gallery enroll`
    try:
        recorded = Consent(
            reference=consent,
            notice_version=notice_version or defaults.notice_version,
            purpose=purpose or defaults.purpose,
            minor=minor,
            guardian_reference=guardian_consent,
            separate=separate_consent,
            written_release=written_release,
            profile=svc.config.privacy_rules().profile,
            scope=scope,
            share_visits=share_visits,
        )
    except ValidationError as exc:
        where, why = first_error(exc, whole="")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"consent {where}: {why}") from exc
    except StoreLensError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, upload in enumerate(photos):
            # the client's file name only names the photo in messages: made safe and short on disk
            name = SAFE_NAME.sub("_", FilePath(upload.filename or "photo.jpg").name)[-60:]
            path = FilePath(tmp) / f"{i + 1}-{name}"
            save_bounded(upload, path, svc.config.api.max_upload_bytes)
            paths.append(path)
        try:
            return svc.enrol(member_id, recorded, paths)
        except StoreLensError as exc:  # named by the uploaded photo, not by this box's temporary folder
            raise refused(status.HTTP_422_UNPROCESSABLE_CONTENT, exc, str(exc).replace(tmp + "/", "")) from exc


@router.delete("/{member_id}", response_model=ErasureReceipt)
def erase(member_id: MemberPath, svc: Svc, who: Admin) -> ErasureReceipt:
    """Erase every trace of a member: vectors, photos, consent, profile, visit history."""
    erased = svc.erase(member_id)
    if erased is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no member {member_id!r}")
    receipt_id, at, removed = erased
    return ErasureReceipt(receipt_id=receipt_id, member_id=member_id, at=at, removed=removed)


@router.get("/{member_id}/export", response_model=dict[str, Any])
def subject_access_export(member_id: MemberPath, svc: Svc, who: Admin) -> dict[str, Any]:
    """Everything held on the member (subject access request), in one JSON document; never a face vector."""
    export = svc.subject_access(member_id, who)
    if export is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"nothing held on {member_id!r}")
    return export


class AccessEntry(BaseModel):
    """One read of a member's data."""

    at: str
    who: str = Field(description="The token's name (device or person)")
    role: str
    what: str = Field(description="card, photo, consent or export")
    why: str = Field(description="arrival (pushed to an iPad), lookup (looked up by an associate) or admin")


@router.get("/{member_id}/access-log", response_model=list[AccessEntry])
def member_access_log(member_id: MemberPath, svc: Svc, who: Admin) -> list[AccessEntry]:
    """Who read this member's data, when and why (after erasure: ask with the erasure receipt's id)."""
    return [AccessEntry(**row) for row in svc.books.access.access_log(member_id)]
