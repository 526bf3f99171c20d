"""``storelens calibrate degradation``: how recognition holds up when the camera is poor, on real faces.

Every labelled photo (``DIR/person/photo``, as ``calibrate registry-set`` lays them out) is enrolled as it
is, then shown again degraded as a store camera degrades faces (``storelens.calibration.degrade``) and run
through the product's own path: dark frames lifted (``detection.lift_dark_below``), the detector, the
quality gate's exposure test, the recogniser, and the match threshold in force. For each degradation: how
many same-person pairs (a clean photo against another photo of the same person, degraded) pass the
threshold, and how many different-person pairs do (which must stay 0).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from storelens.calibration.degrade import DEGRADATIONS, Degradation
from storelens.calibration.threshold import PHOTO_SUFFIXES
from storelens.errors import CalibrationError, StoreLensError
from storelens.face_path import FacePath
from storelens.images import load_image
from storelens.stage_messages import Detections, Frame


@dataclass(frozen=True)
class DegradationRow:
    """One degradation's outcome.

    Attributes:
        name: the degradation.
        hard: a hard case (judged on its own) or a mild one (judged on the average).
        genuine_accepted: same-person pairs at or above the threshold (clean photo against another, degraded).
        genuine_pairs: same-person pairs tried (ordered: each photo of a person against each other one).
        genuine_accepted_of_clean: of the pairs accepted undegraded, how many still are.
        impostor_accepted: different-person pairs at or above the threshold.
        impostor_pairs: different-person pairs tried.
        impostor_max: the highest different-person similarity.
        not_found: degraded photos in which the detector found no face.
        refused: degraded faces the quality gate refused (too dark, flat or noisy; never compared).
        face_px: median width of the degraded faces found, in pixels.
    """

    name: str
    hard: bool
    genuine_accepted: int
    genuine_pairs: int
    genuine_accepted_of_clean: int
    impostor_accepted: int
    impostor_pairs: int
    impostor_max: float
    not_found: int
    refused: int
    face_px: float

    @property
    def genuine_rate(self) -> float:
        """Share of same-person pairs accepted."""
        return self.genuine_accepted / max(self.genuine_pairs, 1)


@dataclass(frozen=True)
class DegradationReport:
    """Every degradation's row, and what the figures rest on.

    Attributes:
        rows: one per degradation, the undegraded baseline ("clean") first.
        people: people in the set; photos: photos with one usable face.
        threshold: the match threshold applied.
    """

    rows: list[DegradationRow]
    people: int
    photos: int
    threshold: float

    def mild_rate(self) -> float:
        """Mean share of same-person pairs accepted over the mild degradations."""
        mild = [r.genuine_rate for r in self.rows if not r.hard and r.name != "clean"]
        return float(np.mean(mild)) if mild else 0.0

    def mild_rate_of_clean(self) -> float:
        """The same, counting only pairs accepted undegraded (what the degradation itself took away)."""
        clean = self.rows[0].genuine_accepted
        mild = [r.genuine_accepted_of_clean / max(clean, 1) for r in self.rows if not r.hard and r.name != "clean"]
        return float(np.mean(mild)) if mild else 0.0


def _largest(faces: Detections) -> Detections:
    return faces.select(np.array([int(np.argmax(faces.widths))]))


def _labelled(directory: Path) -> list[tuple[str, Path]]:
    if not directory.is_dir():
        raise CalibrationError(f"{directory}: not a directory of person folders (DIR/person/*.jpg)")
    return [
        (person.name, photo)
        for person in sorted(p for p in directory.iterdir() if p.is_dir())
        for photo in sorted(p for p in person.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    ]


def measure(
    directory: Path,
    path: FacePath,
    threshold: float,
    degradations: tuple[Degradation, ...] = DEGRADATIONS,
) -> DegradationReport:
    """Enrol every photo clean, then try each degradation of every other photo against it.

    Args:
        directory: ``DIR/person/photo``; photos without a face are left out.
        path: the product's face path, with the dark-frame lift under test (``FacePath.lift``).
        threshold: the match threshold (cosine similarity).
        degradations: what to try; the first row is the undegraded one when it is named "clean".

    Raises:
        CalibrationError: fewer than two people, or no person with two usable photos.
    """
    people: list[str] = []
    images: list[Frame] = []
    clean: list[NDArray[np.float32]] = []
    boxes: list[NDArray[np.float32]] = []
    for person, photo in _labelled(directory):
        try:
            frame = Frame(load_image(photo), f"{person}/{photo.name}")  # the name seeds the noise
        except StoreLensError:
            continue
        found = path.find(frame)
        if len(found) == 0:
            continue
        face = _largest(found.faces)
        people.append(person)
        images.append(frame)
        boxes.append(face.boxes[0])
        clean.append(path.embed(found.frame, face).vectors[0])
    labels = np.array(people)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    other = labels[:, None] != labels[None, :]
    if len(set(people)) < 2 or not same.any():
        raise CalibrationError(f"{directory}: needs two people, one of them with two usable photos")
    enrolled = np.stack(clean)
    baseline: NDArray[np.bool_] | None = None
    rows = []
    for d in degradations:
        sims = np.full((len(images), len(images)), -1.0)
        not_found = refused = 0
        widths: list[float] = []
        for j, frame in enumerate(images):
            found = path.find(Frame(d.apply(frame.image, boxes[j], frame.camera_id), frame.camera_id))
            if len(found) == 0:
                not_found += 1
                continue
            row = int(np.argmax(found.faces.widths))
            face = found.faces.select(np.array([row]))
            widths.append(float(face.widths[0]))
            if found.quality[row] <= 0:
                refused += 1
                continue
            sims[:, j] = enrolled @ path.embed(found.frame, face).vectors[0]
        accepted = sims >= threshold
        if baseline is None:
            baseline = accepted
        rows.append(
            DegradationRow(
                d.name,
                d.hard,
                int((accepted & same).sum()),
                int(same.sum()),
                int((accepted & same & baseline).sum()),
                int((accepted & other).sum()),
                int(other.sum()),
                round(float(sims[other].max()), 4),
                not_found,
                refused,
                float(np.median(widths)) if widths else 0.0,
            )
        )
    return DegradationReport(rows, len(set(people)), len(people), threshold)


def write_json(report: DegradationReport, out: Path) -> None:
    """The report as JSON."""
    data = {
        "people": report.people,
        "photos": report.photos,
        "threshold": report.threshold,
        "mild_genuine_rate": round(report.mild_rate(), 4),
        "mild_genuine_rate_of_clean": round(report.mild_rate_of_clean(), 4),
        "rows": [asdict(r) for r in report.rows],
    }
    out.write_text(json.dumps(data, indent=2), encoding="utf-8")


def plot(report: DegradationReport, out: Path) -> None:
    """Same-person pairs accepted per degradation, each bar labelled with the strangers accepted (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.rows[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.6), dpi=110)
    colours = ["tab:red" if r.hard else ("tab:grey" if r.name == "clean" else "tab:blue") for r in rows]
    ax.barh([r.name for r in rows], [r.genuine_rate for r in rows], color=colours)
    for k, r in enumerate(rows):
        ax.text(
            min(r.genuine_rate, 1.0) + 0.01,
            k,
            f"{r.genuine_accepted}/{r.genuine_pairs}; strangers {r.impostor_accepted}/{r.impostor_pairs}",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, 1.45)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel(f"same-person pairs accepted at threshold {report.threshold:.3f} (red: hard cases)")
    ax.set_title(f"Recognition under poor cameras: {report.people} people, {report.photos} real photos")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
