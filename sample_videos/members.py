"""The scenario's members, enrolled from other photos than the video shows (demo, benchmark, tests)."""

from __future__ import annotations

from typing import Any

from storelens.config import Config
from storelens.face_path import face_path
from storelens.gallery.enrol import Enroller, enroll_photos
from storelens.gallery.gallery import Gallery
from storelens.gallery.records import Consent, MemberInfo
from storelens.sample_videos.photos import fetch_photos
from storelens.stage_messages import FaceModels


def enrol_scenario_members(
    gallery: Gallery, fm: FaceModels, config: Config, truth: dict[str, Any], purpose: str
) -> dict[str, str]:
    """Enrol every member of ``truth`` with consent for ``purpose``; returns member id -> name.

    The consent holds what the privacy profile requires (a separate consent, a written release).
    """
    photos = fetch_photos()
    rules = config.privacy_rules()
    enroller = Enroller(face_path(fm, config.detection), config.enrolment, rules)
    names = {}
    for m in truth["members"]:
        ref = f"{purpose.upper()}-{m['member_id']}"
        consent = Consent(
            reference=ref,
            notice_version="1",
            purpose=purpose,
            separate=rules.separate_consent,
            written_release=f"RELEASE-{ref}" if rules.written_release else None,
            profile=rules.profile,
        )
        member = MemberInfo(member_id=m["member_id"], name=m["name"])
        enroll_photos(gallery, enroller, member, consent, [photos[p] for p in m["enrol_photos"]])
        names[m["member_id"]] = m["name"]
    return names


def enrol_scenario_staff(gallery: Gallery, fm: FaceModels, config: Config, truth: dict[str, Any]) -> dict[str, str]:
    """Enrol the scenario's staff onto the staff list, with their own consent; returns member id -> name."""
    photos = fetch_photos()
    rules = config.privacy_rules()
    enroller = Enroller(face_path(fm, config.detection), config.enrolment, rules)
    names = {}
    for s in truth.get("staff", []):
        consent = Consent(
            reference=f"STAFF-{s['member_id']}",
            notice_version="1",
            purpose="staff-exclusion",
            separate=rules.separate_consent,
            written_release=f"RELEASE-STAFF-{s['member_id']}" if rules.written_release else None,
            profile=rules.profile,
        )
        member = MemberInfo(member_id=s["member_id"], name=s["name"], kind="staff")
        enroll_photos(gallery, enroller, member, consent, [photos[p] for p in s["enrol_photos"]])
        names[s["member_id"]] = s["name"]
    return names
