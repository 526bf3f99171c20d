"""The store's own word on its announcements, weighed against a threshold from labelled photos.

Associates confirm an announcement ("I'll take this") or reject it ("Not this person"); each verdict is kept
with the camera and the similarity, never an image. Labelled photos say how a recogniser separates people in
general; the verdicts say how it does at this store's door, with its light and its members. The threshold
from the photos is the floor: the store's verdicts can only raise it, to the lowest value that leaves the
fewest rejected announcements while keeping at least ``KEEP_CONFIRMED`` of the confirmed ones, and only on
``MIN_OUTCOMES`` verdicts or more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_OUTCOMES = 20  # fewer verdicts say too little to move a threshold
KEEP_CONFIRMED = 0.95  # a raise may lose at most 5 % of the announcements associates confirmed


@dataclass(frozen=True)
class OutcomeAdvice:
    """The threshold after the store's verdicts, and what it changes.

    Attributes:
        threshold: the threshold that stands (``floor`` or higher).
        floor: the threshold from labelled photos.
        decision: ``too-few`` (under MIN_OUTCOMES verdicts), ``none-rejected`` (no rejection at or above the
            floor), ``raised``, or ``would-lose-members`` (no raise keeps KEEP_CONFIRMED of the confirmed).
        confirmed: verdicts "confirmed".
        rejected: verdicts "rejected".
        rejected_at_floor: rejected announcements with similarity at or above the floor.
        rejected_left: those still at or above ``threshold``.
        confirmed_kept: share of confirmed announcements at or above ``threshold`` (None without any).
    """

    threshold: float
    floor: float
    decision: str
    confirmed: int
    rejected: int
    rejected_at_floor: int
    rejected_left: int
    confirmed_kept: float | None


def weigh(confirmed: np.ndarray, rejected: np.ndarray, floor: float) -> OutcomeAdvice:
    """The threshold the store's verdicts support, from ``floor`` up.

    Args:
        confirmed: (C,) float similarities of confirmed announcements.
        rejected: (R,) float similarities of rejected announcements.
        floor: the threshold from labelled photos.
    """
    yes, no = np.asarray(confirmed, np.float64), np.asarray(rejected, np.float64)

    def kept(t: float) -> float | None:
        return float(np.mean(yes >= t)) if yes.size else None

    at_floor = int(np.sum(no >= floor))

    def advice(threshold: float, decision: str) -> OutcomeAdvice:
        return OutcomeAdvice(round(threshold, 3), floor, decision, int(yes.size), int(no.size), at_floor,
                             int(np.sum(no >= threshold)), kept(threshold))  # fmt: skip

    if yes.size + no.size < MIN_OUTCOMES:
        return advice(floor, "too-few")
    if at_floor == 0:
        return advice(floor, "none-rejected")
    # candidates: the floor, and just above each rejected similarity over it
    candidates = sorted({floor, *(round(float(s) + 0.001, 3) for s in no[no >= floor])})
    allowed = [t for t in candidates if (kept(t) is None or (kept(t) or 0.0) >= KEEP_CONFIRMED)]
    best = min(allowed, key=lambda t: (int(np.sum(no >= t)), t))
    if best == floor:
        return advice(floor, "would-lose-members")
    return advice(best, "raised")
