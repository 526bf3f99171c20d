"""Enrolment refusals (the gallery unchanged after each), consent, duplicates, conflicts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from storelens.errors import EnrolmentError
from storelens.face_path import face_path
from storelens.gallery.enrol import enroll_photos
from storelens.gallery.records import Consent
from tests.helpers.cli import run_cli
from tests.helpers.configs import consent, member


def state(gallery) -> tuple:
    return ([m.model_dump() for m in gallery.members()], gallery.templates.generation(), len(gallery))


def _scaled(src: Path, dst: Path, factor: float) -> Path:
    img = cv2.imread(str(src))
    cv2.imwrite(str(dst), cv2.resize(img, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA))
    return dst


def _write(path: Path, img: np.ndarray) -> Path:
    cv2.imwrite(str(path), img)
    return path


MAKERS: dict[str, Callable[[dict[str, Path], Path], Path]] = {
    "no face": lambda p, d: _write(d / "wall.png", np.full((480, 640, 3), 180, np.uint8)),
    "two faces": lambda p, d: p["t1.jpg"],
    "too small": lambda p, d: _scaled(p["obama.jpg"], d / "small.jpg", 0.2),
    "unreadable": lambda p, d: (d.joinpath("notes.jpg").write_text("not a photo"), d / "notes.jpg")[1],
    "blurred": lambda p, d: _write(d / "blur.jpg", cv2.GaussianBlur(cv2.imread(str(p["obama.jpg"])), (0, 0), 6)),
}
REASONS = {
    "no face": "no face found",
    "two faces": "6 faces found and none clearly the subject",
    "too small": "face too small",
    "unreadable": "not an image",
    "blurred": "face too blurred",
}


@pytest.mark.parametrize("case", list(MAKERS))
def test_refused_photo_leaves_gallery_unchanged(case, gallery, enroller, photos, tmp_path) -> None:
    enroll_photos(gallery, enroller, member("biden"), consent(), [photos["biden.jpg"]])
    before = state(gallery)
    bad = MAKERS[case](photos, tmp_path)
    with pytest.raises(EnrolmentError) as err:
        enroll_photos(gallery, enroller, member("obama"), consent(), [photos["obama.jpg"], bad])
    assert str(bad) in str(err.value) and REASONS[case] in str(err.value)
    assert "member unchanged" in str(err.value)
    assert state(gallery) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"reference": ""}, "a consent reference is required"),
     ({"reference": "   "}, "a consent reference is required"),
     ({"reference": "CF-1", "minor": True}, "minor: a guardian consent reference is required")],
)  # fmt: skip
def test_consent_required(kwargs, message) -> None:
    with pytest.raises(EnrolmentError, match=message):
        Consent(notice_version="1", purpose="vip-recognition", **kwargs)


def test_consent_is_recorded(gallery, enroller, photos) -> None:
    c = consent("CF-77", minor=True, guardian_reference="G-5")
    enroll_photos(gallery, enroller, member("kid", "A Child"), c, [photos["obama.jpg"]])
    (rec,) = gallery.members()
    assert (rec.consent_reference, rec.notice_version, rec.purpose, rec.minor) == ("CF-77", "2", "vip-recognition",
                                                                                       True)  # fmt: skip


def test_cli_refusals_name_photo_and_reason(photos, prepared_models_dir, tmp_path) -> None:
    g = ["--gallery", str(tmp_path / "g"), "--models-dir", str(prepared_models_dir)]
    no_consent = run_cli("gallery", "enroll", *g, "--member-id", "M1", "--consent", "", str(photos["obama.jpg"]))
    assert no_consent.returncode == 2 and "consent reference is required" in no_consent.stderr
    missing_flag = run_cli("gallery", "enroll", *g, "--member-id", "M1", str(photos["obama.jpg"]))
    assert missing_flag.returncode == 2 and "--consent" in missing_flag.stderr
    minor = run_cli(
        "gallery", "enroll", *g, "--member-id", "M1", "--consent", "C", "--under-14", str(photos["obama.jpg"])
    )
    assert minor.returncode == 2 and "guardian consent" in minor.stderr
    two = run_cli("gallery", "enroll", *g, "--member-id", "M1", "--consent", "C", str(photos["t1.jpg"]))
    assert two.returncode == 2 and str(photos["t1.jpg"]) in two.stderr and "6 faces" in two.stderr
    assert len(two.stderr.strip().splitlines()) == 1 and "Traceback" not in two.stderr
    listing = run_cli("gallery", "list", *g)
    assert "0 member(s)" in listing.stdout


def test_near_duplicates_are_noted_not_stored(gallery, enroller, photos) -> None:
    result = enroll_photos(
        gallery,
        enroller,
        member("obama"),
        consent(),
        [photos["obama.jpg"], photos["obama_partial_face.jpg"], photos["obama3.jpg"]],
    )
    assert (result.added_vectors, result.total_vectors) == (2, 2)
    assert len(result.near_duplicates) == 1 and "obama_partial_face.jpg: near-duplicate" in result.near_duplicates[0]
    again = enroll_photos(gallery, enroller, member("obama"), consent(), [photos["obama.jpg"]])
    assert again.added_vectors == 0 and "the same photo is already enrolled" in again.near_duplicates[0]


def test_photo_of_another_member_is_refused(gallery, enroller, photos) -> None:
    enroll_photos(gallery, enroller, member("obama"), consent(), [photos["obama.jpg"]])
    before = state(gallery)
    with pytest.raises(EnrolmentError, match="looks like enrolled member obama"):
        enroll_photos(gallery, enroller, member("someone-else"), consent(), [photos["obama2.jpg"]])
    assert state(gallery) == before


def test_photos_are_not_kept_unless_asked(gallery, enroller, photos, face_models, tmp_path) -> None:
    from storelens.gallery.enrol import Enroller
    from storelens.gallery.factory import open_gallery
    from tests.helpers.configs import make_config

    enroll_photos(gallery, enroller, member("obama"), consent(), [photos["obama.jpg"]])
    assert not (gallery.directory / "photos").exists()
    cfg = make_config(keep_photos=True)
    keeping = open_gallery(cfg, face_models.recogniser_spec, tmp_path / "keeping")
    result = enroll_photos(
        keeping,
        Enroller(face_path(face_models, cfg.detection), cfg.enrolment, cfg.privacy_rules()),
        member("biden"),
        consent(),
        [photos["biden.jpg"]],
    )
    assert result.photos_kept == 1
    kept = list((keeping.directory / "photos").rglob("*.jpg"))
    assert len(kept) == 1 and kept[0].read_bytes() == photos["biden.jpg"].read_bytes()
    receipt = keeping.remove("biden")
    assert receipt.removed_photos == 1 and not list((keeping.directory / "photos").rglob("*"))
    keeping.close()
