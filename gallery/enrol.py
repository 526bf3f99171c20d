"""Enrolment photos: each must have one subject whose face is usable (score, size, sharpness, pose, exposure).

The subject is the face that dominates the photo (``storelens.face_path.choose_subject``).
Every photo goes through the one face path (``storelens.face_path.FacePath``) and is checked before anything is
stored, so a refused photo leaves the member unchanged. Other faces in a photo with a clear subject are ignored,
and the verdict says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from storelens.config import EnrolmentConfig
from storelens.errors import EnrolmentError, StoreLensError
from storelens.exposure import face_exposure
from storelens.face_path import FacePath, choose_subject, subject_rule
from storelens.faces import FaceQuality, measure_face
from storelens.gallery.gallery import Gallery, NewVector
from storelens.gallery.records import Consent, EnrolmentResult, MemberInfo, check_consent
from storelens.i18n import N_
from storelens.images import decode_image, load_image
from storelens.privacy import PrivacyRules
from storelens.stage_messages import Embeddings, Frame


@dataclass(frozen=True)
class PhotoCheck:
    """The enrolment checks' verdict on one photo.

    Attributes:
        faces: faces found.
        quality: the subject's measures (None when there is no subject).
        problem: why the photo would be refused, or None when it is usable.
        code: the reason's code (``no-face``, ``many-faces``, ``too-small``, ``low-confidence``, ``blurred``,
            ``turned``, ``tilted``, ``exposure``), or None when usable.
        ignored: other faces in the photo, not its subject (ignored).
    """

    faces: int
    quality: FaceQuality | None
    problem: str | None
    code: str | None = None
    ignored: int = 0


@dataclass(frozen=True)
class Inspected:
    """One photo inspected: the verdict, the subject's aligned chip when usable, and the photo's checksum.

    Attributes:
        photo: the photo's path.
        check: the verdict.
        chip: (h, w, 3) uint8 BGR chip of the subject, None when the photo is refused.
        sha256: checksum of the photo's bytes.
    """

    photo: Path
    check: PhotoCheck
    chip: NDArray[np.uint8] | None
    sha256: str


class Enroller:
    """Checks enrolment photos and turns each into one vector.

    Args:
        path: the one face path (lift, detect, align, embed).
        config: quality gates and the subject rule.
        rules: the privacy rules in force (what a consent record must hold).
    """

    def __init__(self, path: FacePath, config: EnrolmentConfig, rules: PrivacyRules) -> None:
        self.path = path
        self.config = config
        self.rules = rules
        self.subject_rule = subject_rule(config)

    def refusal(self, q: FaceQuality) -> tuple[str, str] | None:
        """Why a face is not usable for enrolment, as (code, words), or None when it is.

        The code (``too-small``, ``low-confidence``, ``blurred``, ``turned``, ``tilted``) lets a page say it
        in its own language; the words are the CLI's.
        """
        c = self.config
        if q.width < c.min_face_px:
            return "too-small", f"face too small ({q.width:.0f} px wide, at least {c.min_face_px} px needed)"
        if q.score < c.min_det_score:
            return "low-confidence", f"face detection confidence {q.score:.2f} is below {c.min_det_score:.2f}"
        if q.sharpness < c.min_sharpness:
            return "blurred", f"face too blurred (sharpness {q.sharpness:.1f}, at least {c.min_sharpness:.1f} needed)"
        if abs(q.yaw) > c.max_yaw:
            return "turned", f"face turned too far sideways (yaw {q.yaw:+.2f}, at most {c.max_yaw:.2f})"
        if not c.pitch_range[0] <= q.pitch <= c.pitch_range[1]:
            low, high = c.pitch_range
            return "tilted", f"face tilted too far up or down (pitch {q.pitch:.2f}, allowed {low}-{high})"
        return None

    def check(self, photo: Path) -> PhotoCheck:
        """The enrolment checks' verdict on ``photo``, without storing anything (the console shows it first).

        Raises:
            EnrolmentError: the photo cannot be read as an image (named, with the reason).
        """
        return self.inspect(photo).check

    def inspect(self, photo: Path) -> Inspected:
        """The verdict on ``photo``, with its subject's aligned chip when usable (embedded later, in batches).

        Raises:
            EnrolmentError: the photo cannot be read as an image (named, with the reason).
        """
        try:
            try:  # read once: the checksum and the pixels come from the same bytes
                data = photo.read_bytes()
            except OSError as exc:
                load_image(photo, self.config.max_photo_pixels)  # says why, in the words every command uses
                raise EnrolmentError(f"{photo}: cannot read: {exc.strerror}") from exc
            frame = Frame(decode_image(data, str(photo), self.config.max_photo_pixels), camera_id=str(photo))
        except StoreLensError as exc:
            raise EnrolmentError(str(exc)) from exc
        sha = hashlib.sha256(data).hexdigest()
        found = self.path.find(frame)
        n = len(found)
        if n == 0:
            return Inspected(photo, PhotoCheck(0, None, "no face found", "no-face"), None, sha)
        row = choose_subject(found.faces, found.frame.size, self.subject_rule)
        if row is None:
            many = (
                f"{n} faces found and none clearly the subject (the member's face must be at least "
                f"{self.subject_rule.dominance:g} times the next by size and nearness to the centre); crop the photo"
            )
            return Inspected(photo, PhotoCheck(n, None, many, "many-faces"), None, sha)
        face = found.faces.select(np.array([row]))
        chip = self.path.chips(found.frame, face)[0]
        quality = measure_face(chip, face.boxes[0], float(face.scores[0]), face.keypoints[0])
        code, words = self.refusal(quality) or (None, None)
        if code is None and face_exposure(found.frame.image, face.boxes[0]).usable <= 0:
            code, words = "exposure", "face too dark, flat or noisy to recognise, even lifted"
        check = PhotoCheck(n, quality, words, code, ignored=n - 1)
        return Inspected(photo, check, chip if code is None else None, sha)

    def vector(self, photo: Path) -> NewVector:
        """The vector of the subject's usable face in ``photo``.

        Raises:
            EnrolmentError: naming the photo and the reason.
        """
        seen = self.inspect(photo)
        if seen.check.problem or seen.chip is None:
            raise EnrolmentError(f"{photo}: {seen.check.problem}")
        return NewVector(self.path.embed_chips(seen.chip[None])[0], seen.sha256, photo, seen.check.ignored)

    def vectors(self, photos: list[Path], progress: Callable[[int, int], None] | None = None) -> list[NewVector]:
        """Check every photo first; refuse all if any is unusable (naming each bad photo and why).

        ``progress(photos done, photos in all)`` is called after each photo.
        """
        if not photos:
            raise EnrolmentError("no photos given")
        out: list[NewVector] = []
        problems: list[str] = []
        for done, photo in enumerate(photos):
            if progress is not None:
                progress(done, len(photos))
            try:
                out.append(self.vector(photo))
            except EnrolmentError as exc:
                problems.append(str(exc))
        if problems:
            raise EnrolmentError("enrolment refused, member unchanged: " + "; ".join(problems))
        return out


def enroll_photos(
    gallery: Gallery,
    enroller: Enroller,
    member: MemberInfo,
    consent: Consent,
    photos: list[Path],
    progress: Callable[[int, int], None] | None = None,
) -> EnrolmentResult:
    """Check the consent against the privacy profile, then the photos; then enrol all at once.

    A photo that looks like another member is refused.

    Raises:
        EnrolmentError: the consent lacks what the profile requires, a photo is unusable, or it matches a
            different enrolled member. Nothing is stored.
    """
    check_consent(consent, enroller.rules)
    vectors = enroller.vectors(photos, progress)
    matches = gallery.match(Embeddings(np.stack([v.vector for v in vectors]), gallery.model))
    conflicts = [
        (nv.photo, other, sim)
        for nv, other, sim in zip(vectors, matches.best_ids, matches.similarities, strict=True)
        if other is not None and other != member.member_id and sim >= gallery.policy.lookalike
    ]
    if conflicts:
        said = [
            f"{photo}: looks like enrolled member {other} (similarity {sim:.3f}); check the photo or the member id"
            for photo, other, sim in conflicts
        ]
        photo, other, sim = conflicts[0]
        raise EnrolmentError(
            "enrolment refused, member unchanged: " + "; ".join(said),
            message=N_(
                "Enrolment refused, member unchanged: {photo} looks like enrolled member {member} (similarity "
                "{similarity}); check the photo or the member id."
            ),
            params={"photo": Path(str(photo)).name, "member": other, "similarity": f"{sim:.3f}"},
        )
    return gallery.enroll(member, consent, vectors)
