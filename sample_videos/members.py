"""The scenario's members, enrolled from other photos than the video shows (demo, benchmark, tests)."""

from __future__ import annotations

from typing import Any

from storelens.config import EnrolmentConfig
from storelens.gallery.enrol import Enroller, enroll_photos
from storelens.gallery.gallery import Gallery
from storelens.gallery.records import Consent, MemberInfo
from storelens.messages import FaceModels
from storelens.sample_videos.photos import fetch_photos


def enrol_scenario_members(
    gallery: Gallery, fm: FaceModels, enrolment: EnrolmentConfig, truth: dict[str, Any], purpose: str
) -> dict[str, str]:
    """Enrol every member of ``truth`` with consent recorded for ``purpose``; returns member id -> name."""
    photos = fetch_photos()
    enroller = Enroller(fm, enrolment)
    names = {}
    for m in truth["members"]:
        consent = Consent(reference=f"{purpose.upper()}-{m['member_id']}", notice_version="1", purpose=purpose)
        member = MemberInfo(member_id=m["member_id"], name=m["name"])
        enroll_photos(gallery, enroller, member, consent, [photos[p] for p in m["enrol_photos"]])
        names[m["member_id"]] = m["name"]
    return names
