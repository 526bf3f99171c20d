"""Enrolment photos: each must hold exactly one usable face (score, size, sharpness, pose).

Every photo is checked before anything is stored, so a refused photo leaves the member unchanged.
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
from storelens.faces import FaceQuality, measure_face
from storelens.gallery.gallery import Gallery, NewVector
from storelens.gallery.records import Consent, EnrolmentResult, MemberInfo, check_consent
from storelens.images import load_image
from storelens.privacy import PrivacyRules
from storelens.stage_messages import Embeddings, FaceModels, Frame


@dataclass(frozen=True)
class PhotoCheck:
    """The enrolment checks' verdict on one photo.

    Attributes:
        faces: faces found.
        quality: the one face's measures (None unless exactly one face).
        problem: why the photo would be refused, or None when it is usable.
        code: the reason's code (``no-face``, ``many-faces``, ``too-small``, ``low-confidence``, ``blurred``,
            ``turned``, ``tilted``), or None when usable.
    """

    faces: int
    quality: FaceQuality | None
    problem: str | None
    code: str | None = None


class Enroller:
    """Checks enrolment photos and turns each into one vector.

    Args:
        face_models: detector and embedder.
        config: quality gates.
        rules: the privacy rules in force (what a consent record must hold).
    """

    def __init__(self, face_models: FaceModels, config: EnrolmentConfig, rules: PrivacyRules) -> None:
        self.fm = face_models
        self.config = config
        self.rules = rules

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
        return self._inspect(photo)[0]

    def _inspect(self, photo: Path) -> tuple[PhotoCheck, NDArray[np.uint8] | None, bytes]:
        """The verdict, the aligned face chip (when there is one face) and the photo's bytes."""
        try:
            data = photo.read_bytes() if photo.is_file() else b""
            frame = Frame(load_image(photo, self.config.max_photo_pixels), camera_id=str(photo))
        except StoreLensError as exc:
            raise EnrolmentError(str(exc)) from exc
        faces = self.fm.detector.detect(frame)
        if len(faces) == 0:
            return PhotoCheck(0, None, "no face found", "no-face"), None, data
        if len(faces) > 1:
            many = f"{len(faces)} faces found; an enrolment photo must show one person"
            return PhotoCheck(len(faces), None, many, "many-faces"), None, data
        chip = self.fm.embedder.chips(frame, faces)[0]
        quality = measure_face(chip, faces.boxes[0], float(faces.scores[0]), faces.keypoints[0])
        code, words = self.refusal(quality) or (None, None)
        return PhotoCheck(1, quality, words, code), chip, data

    def vector(self, photo: Path) -> NewVector:
        """The vector of the one usable face in ``photo``.

        Raises:
            EnrolmentError: naming the photo and the reason.
        """
        verdict, chip, data = self._inspect(photo)
        if verdict.problem or chip is None:
            raise EnrolmentError(f"{photo}: {verdict.problem}")
        vec = self.fm.embedder.embed_chips(chip[None])[0]
        return NewVector(vec, hashlib.sha256(data).hexdigest(), photo)

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
        f"{nv.photo}: looks like enrolled member {other} (similarity {sim:.3f}); check the photo or the member id"
        for nv, other, sim in zip(vectors, matches.best_ids, matches.similarities, strict=True)
        if other is not None and other != member.member_id and sim >= gallery.policy.lookalike
    ]
    if conflicts:
        raise EnrolmentError("enrolment refused, member unchanged: " + "; ".join(conflicts))
    return gallery.enroll(member, consent, vectors)
