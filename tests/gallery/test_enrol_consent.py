"""Enrolment under a privacy profile: what the profile requires of a consent record, or nothing is stored."""

from __future__ import annotations

import json

import pytest

from storelens.config import Config
from storelens.errors import EnrolmentError
from storelens.face_path import face_path
from storelens.gallery.enrol import Enroller, enroll_photos
from storelens.gallery.records import Consent
from tests.helpers.cli import run_cli
from tests.helpers.configs import member, write_toml


def profile_config(profile: str) -> Config:
    return Config.model_validate(
        {"store": {"id": "s"}, "cameras": [{"id": "c", "source": "0"}], "privacy": {"profile": profile},
         "gallery": {"refresh_seconds": 0}}
    )  # fmt: skip


# profile, consent fields, None when accepted or the words of the refusal
CASES = [
    ("cn", {}, "privacy profile cn requires separate consent"),
    ("cn", {"separate": True}, None),
    ("cn", {"separate": True, "minor": True, "guardian_reference": "G-1"}, None),
    ("eu", {}, "privacy profile eu requires separate consent"),
    ("eu", {"separate": True}, None),
    ("us-il", {}, "privacy profile us-il requires the reference of the member's signed written release"),
    ("us-il", {"separate": True, "written_release": " "}, "written release"),
    ("us-il", {"written_release": "WR-2026-17"}, None),
    ("custom", {}, None),
]  # fmt: skip


@pytest.mark.parametrize(("profile", "fields", "refusal"), CASES)
def test_enrolment_holds_what_the_profile_requires(face_models, gallery, photos, profile, fields, refusal) -> None:
    cfg = profile_config(profile)
    enroller = Enroller(face_path(face_models, cfg.detection), cfg.enrolment, cfg.privacy_rules())
    consent = Consent(reference="CF-9", notice_version="3", purpose="vip-recognition", profile=profile, **fields)
    if refusal is None:
        enroll_photos(gallery, enroller, member("m1"), consent, [photos["obama.jpg"]])
        (record,) = gallery.members()
        assert (record.profile, record.separate) == (profile, fields.get("separate", False))
        assert record.written_release == fields.get("written_release")
        return
    with pytest.raises(EnrolmentError) as err:
        enroll_photos(gallery, enroller, member("m1"), consent, [photos["obama.jpg"]])
    assert refusal in str(err.value) and "member unchanged" in str(err.value)
    assert gallery.members() == [] and len(gallery) == 0  # nothing stored


def test_a_consent_recorded_under_another_profile_is_refused(face_models, gallery, photos) -> None:
    cfg = profile_config("eu")
    enroller = Enroller(face_path(face_models, cfg.detection), cfg.enrolment, cfg.privacy_rules())
    consent = Consent(reference="CF-9", notice_version="3", purpose="p", separate=True, profile="custom")
    with pytest.raises(EnrolmentError, match="recorded under privacy profile custom, but this box applies eu"):
        enroll_photos(gallery, enroller, member("m1"), consent, [photos["obama.jpg"]])
    assert gallery.members() == []


def test_cli_refuses_before_reading_a_photo_and_names_the_flag(tmp_path, photos, prepared_models_dir) -> None:
    path = write_toml(
        tmp_path / "c.toml",
        {"store": {"id": "s"}, "cameras": [{"id": "c", "source": "0"}], "privacy": {"profile": "us-il"}},
    )
    g = ["--config", str(path), "--gallery", str(tmp_path / "g"), "--models-dir", str(prepared_models_dir)]
    refused = run_cli("gallery", "enroll", *g, "--member-id", "M1", "--consent", "C", str(photos["obama.jpg"]))
    assert refused.returncode == 2 and "--written-release REF" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not (tmp_path / "g").exists()  # not even a gallery was created
    done = run_cli("gallery", "enroll", *g, "--member-id", "M1", "--consent", "C", "--written-release", "WR-1",
                   "--minor", "--guardian-consent", "G-7", str(photos["obama.jpg"]))  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = run_cli("gallery", "list", *g[:4], "--json")
    assert listed.returncode == 0, listed.stderr
    (record,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (record["member_id"], record["minor"], record["written_release"], record["profile"]) == (
        "M1", True, "WR-1", "us-il")  # fmt: skip
