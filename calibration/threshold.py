"""``storelens calibrate threshold``: a threshold from a target rate of false VIP announcements.

A stranger is announced as a member when their face passes the threshold against any of the G
members enrolled, so false announcements per visitor are about G x FAR(threshold). From labelled
photos (``DIR/person/*.jpg``, one face each) this computes genuine (same person) and impostor
(different people) similarities, the FAR and FRR curves, and the lowest threshold whose FAR meets
``target / G``. Impostor tails far below one in the number of pairs are estimated from a normal fit
of the impostor similarities, and the report says which was used.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, replace
from itertools import combinations
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from storelens.config import Config
from storelens.errors import CalibrationError, ConfigError, StoreLensError
from storelens.face_path import FacePath, SubjectRule, choose_subject
from storelens.images import load_image
from storelens.stage_messages import Frame

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Scores:
    """Similarities of every pair of labelled faces.

    Attributes:
        genuine: (G,) same-person pair similarities.
        impostor: (I,) different-person pair similarities.
        people: number of people; photos: number of usable photos; skipped: unusable photos and why.
    """

    genuine: NDArray[np.float64]
    impostor: NDArray[np.float64]
    people: int
    photos: int
    skipped: list[str]


def embed_labelled(directory: Path, path: FacePath, rule: SubjectRule) -> Scores:
    """Embed the subject of every photo in ``directory/person/`` through the face path and score every pair.

    A photo where no face is clearly the subject (``rule``, as at enrolment) is skipped, with why.

    Raises:
        CalibrationError: fewer than two people, or no genuine pair.
    """
    if not directory.is_dir():
        raise CalibrationError(f"{directory}: not a directory of person folders (DIR/person/*.jpg)")
    vectors: list[NDArray[np.float32]] = []
    labels: list[str] = []
    skipped: list[str] = []
    for person in sorted(p for p in directory.iterdir() if p.is_dir()):
        for photo in sorted(p for p in person.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
            try:
                frame = Frame(load_image(photo))
            except StoreLensError as exc:
                skipped.append(str(exc))
                continue
            found = path.find(frame)
            if len(found) == 0:
                skipped.append(f"{photo}: no face found")
                continue
            row = choose_subject(found.faces, found.frame.size, rule)
            if row is None:
                skipped.append(f"{photo}: {len(found)} faces and none clearly the subject; a labelled photo shows one")
                continue
            vectors.append(path.embed(found.frame, found.faces.select(np.array([row]))).vectors[0])
            labels.append(person.name)
    if len(set(labels)) < 2:
        raise CalibrationError(f"{directory}: needs photos of at least two people (found {len(set(labels))})")
    emb = np.stack(vectors).astype(np.float64)
    sims = emb @ emb.T
    genuine: list[float] = []
    impostor: list[float] = []
    for i, j in combinations(range(len(labels)), 2):
        (genuine if labels[i] == labels[j] else impostor).append(float(sims[i, j]))
    if not genuine:
        raise CalibrationError(f"{directory}: no person has two usable photos, so no genuine pair to measure")
    return Scores(np.array(genuine), np.array(impostor), len(set(labels)), len(labels), skipped)


def _normal_tail(t: float, mean: float, std: float) -> float:
    return 0.5 * math.erfc((t - mean) / (std * math.sqrt(2))) if std > 0 else float(t <= mean)


@dataclass(frozen=True)
class Recommendation:
    """The recommended setting and what it means.

    Attributes:
        threshold: recommended match threshold (cosine similarity).
        margin: recommended lead over the second-best member.
        far_target: FAR needed, target / gallery size.
        far_at_threshold: FAR at the threshold (empirical, or the normal fit where pairs are too few).
        far_source: "measured" or "normal fit of impostor similarities".
        frr_at_threshold: share of genuine pairs below the threshold (members not recognised).
        false_announcements_per_visitor: gallery size x FAR at the threshold.
        gallery_size: members enrolled.
        target: target false announcements per visitor.
        reachable: whether a threshold below 1 meets the target; when not, ``threshold`` is the
            equal-error threshold (FAR = FRR), the best compromise, and must not be applied blindly.
        eer_threshold: where FAR equals FRR on these pairs.
        eer: the rate there.
    """

    threshold: float
    margin: float
    far_target: float
    far_at_threshold: float
    far_source: str
    frr_at_threshold: float
    false_announcements_per_visitor: float
    gallery_size: int
    target: float
    reachable: bool
    eer_threshold: float
    eer: float


def curves(scores: Scores, grid: NDArray[np.float64]) -> dict[str, list[float]]:
    """FAR (impostors at or above t) and FRR (genuine below t) over ``grid``."""
    far = [float(np.mean(scores.impostor >= t)) for t in grid]
    frr = [float(np.mean(scores.genuine < t)) for t in grid]
    return {"threshold": [round(float(t), 4) for t in grid], "far": far, "frr": frr}


def _far_at(scores: Scores, t: float, need: float, fit: tuple[float, float]) -> float:
    """FAR at ``t``: measured, or at least the tail of ``fit`` (the impostors' mean, std).

    The fitted tail counts where ``need`` is rarer than one impostor pair in the data: below one pair, only the
    fit can say anything.
    """
    empirical = float(np.mean(scores.impostor >= t))
    return max(empirical, _normal_tail(t, *fit)) if need < 1.0 / len(scores.impostor) else empirical


def _fit(scores: Scores) -> tuple[float, float]:
    return float(scores.impostor.mean()), float(scores.impostor.std())


def at_threshold(scores: Scores, rec: Recommendation, threshold: float) -> Recommendation:
    """``rec`` moved to ``threshold`` (a store's verdicts raised it): FAR, FRR and false announcements there."""
    far = _far_at(scores, threshold, rec.far_target, _fit(scores))
    return replace(rec, threshold=round(threshold, 3), far_at_threshold=far,
                   frr_at_threshold=float(np.mean(scores.genuine < threshold)),
                   false_announcements_per_visitor=rec.gallery_size * far)  # fmt: skip


def recommend(scores: Scores, gallery_size: int, target: float) -> Recommendation:
    """The lowest threshold whose FAR is at most ``target / gallery_size``."""
    need = target / max(gallery_size, 1)
    fit = _fit(scores)
    std = fit[1]
    measurable = 1.0 / len(scores.impostor)
    grid = np.round(np.arange(0.0, 1.0001, 0.001), 4)
    source = "measured" if need >= measurable else "normal fit of impostor similarities"

    def far_at(t: float) -> float:
        return _far_at(scores, t, need, fit)

    c = curves(scores, grid)
    gap = [abs(a - b) for a, b in zip(c["far"], c["frr"], strict=True)]
    k = int(np.argmin(gap))
    eer_t, eer = float(grid[k]), float((c["far"][k] + c["frr"][k]) / 2)
    chosen = next((float(t) for t in grid if far_at(float(t)) <= need), None)
    frr_chosen = float(np.mean(scores.genuine < chosen)) if chosen is not None else 1.0
    reachable = chosen is not None and chosen < 1.0 and frr_chosen < 1.0
    threshold = chosen if reachable and chosen is not None else eer_t
    far = far_at(threshold)
    margin = float(np.clip(0.5 * std, 0.01, 0.1))
    return Recommendation(
        round(threshold, 3),
        round(margin, 3),
        need,
        far,
        source,
        float(np.mean(scores.genuine < threshold)),
        gallery_size * far,
        gallery_size,
        target,
        reachable,
        round(eer_t, 3),
        eer,
    )


def plot(scores: Scores, rec: Recommendation, out: Path) -> None:
    """FAR and FRR against the threshold, with the recommendation marked (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0.5, 1.0, 501)
    c = curves(scores, grid)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ax.plot(c["threshold"], c["far"], label="FAR: strangers passing (impostor pairs)", color="tab:red")
    ax.plot(c["threshold"], c["frr"], label="FRR: members missed (genuine pairs)", color="tab:blue")
    ax.axvline(rec.threshold, color="black", linestyle="--", label=f"recommended threshold {rec.threshold:.3f}")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("match threshold (cosine similarity)")
    ax.set_ylabel("rate")
    ax.set_title(f"{len(scores.genuine)} genuine and {len(scores.impostor)} impostor pairs, {scores.people} people")
    ax.legend(loc="center left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def write_json(scores: Scores, rec: Recommendation, out: Path) -> None:
    """The curve and the recommendation as JSON."""
    data = {
        "recommendation": asdict(rec),
        "pairs": {"genuine": len(scores.genuine), "impostor": len(scores.impostor)},
        "people": scores.people,
        "photos": scores.photos,
        "skipped": scores.skipped,
        "genuine": {"min": float(scores.genuine.min()), "median": float(np.median(scores.genuine))},
        "impostor": {
            "max": float(scores.impostor.max()),
            "mean": float(scores.impostor.mean()),
            "std": float(scores.impostor.std()),
        },
        "curve": curves(scores, np.round(np.arange(0.5, 1.0001, 0.005), 4)),
    }
    out.write_text(json.dumps(data, indent=2))


def write_into_config(path: Path, rec: Recommendation) -> None:
    """Set ``[recognition] match_threshold`` and ``match_margin`` in a TOML file, keeping the rest as it is."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc}") from exc
    values = {"match_threshold": f"{rec.threshold:.3f}", "match_margin": f"{rec.margin:.3f}"}
    section = re.search(r"(?m)^\[recognition\][ \t]*$", text)
    if section is None:
        block = "\n[recognition]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
        text = text.rstrip("\n") + "\n" + block
    else:
        start = section.end()
        nxt = re.search(r"(?m)^\[", text[start:])
        end = start + nxt.start() if nxt else len(text)
        body = text[start:end]
        for key, value in values.items():
            pattern = re.compile(rf"(?m)^{key}\s*=.*$")
            body = pattern.sub(f"{key} = {value}", body) if pattern.search(body) else f"\n{key} = {value}" + body
        text = text[:start] + body + text[end:]
    try:  # the new text must be a valid configuration before it replaces the old one
        Config.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"{path}: left unchanged: with the new threshold it would not be valid ({exc})") from exc
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # all or nothing: a reader sees the old file or the new one
