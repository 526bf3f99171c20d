"""Real face photos from registry packages, for tests, benchmarks and the demo; never committed.

face_recognition 1.3.0's sdist (``tests/test_images``), scrfd 0.3.0's sdist (``images/``) and the
insightface wheel (``insightface/data/images/t1.jpg``, installed as a dependency).
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from models.prepare import cache_dir, pip_download
from storelens.errors import PrepareError


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
        package="scrfd",
        version="0.3.0",
        archive="scrfd-0.3.0.tar.gz",
        sha256="35855c664d565492aab0068f1c64b4957a15ca6cd106b9c8b1642d67cfeeb5fc",
        prefix="scrfd-0.3.0/images/",
        names=("solvay_conference_1927.jpg", "gauss.png", "newton.png"),
    ),
)


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
            archive = pip_download(src.package, src.version, src.archive, src.sha256, cache)
            with tarfile.open(archive) as tar:
                for name in missing:
                    member = tar.extractfile(src.prefix + name)
                    if member is None:
                        raise PrepareError(f"{archive}: has no {src.prefix + name}")
                    part = dest / (name + ".part")
                    part.write_bytes(member.read())
                    part.replace(dest / name)
        out.update({n: dest / n for n in src.names})
    t1 = dest / "t1.jpg"
    if not t1.is_file():
        ref = resources.files("insightface") / "data" / "images" / "t1.jpg"
        with resources.as_file(ref) as path:
            shutil.copyfile(path, t1)
    out["t1.jpg"] = t1
    return out
