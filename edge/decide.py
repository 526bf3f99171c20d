"""Who a track is: a decision that waits for good faces and weighs every attempt by its quality.

Frigate's face processor (``frigate/data_processing/real_time/face.py``) scores each attempt by face
area and recognition score and refuses ties, from one camera's snapshots. Here a whole track is the
unit: while it is unnamed, its face is embedded again whenever it is good enough (size, sharpness,
pose, detector score) and at least ``interval`` after the last attempt, within a budget of attempts.
Each attempt that the gallery names adds its quality (twice that when well above the threshold) to
that member's evidence; an attempt that names nobody adds to the "nobody" evidence. A member is named
as soon as their evidence reaches ``min_evidence`` and is at least twice the evidence against them
(every other member's, plus half of "nobody"), so that ties and two-member tracks wait until one
clearly wins, and a track whose faces are all poor is never guessed. A track whose good faces have
named nobody, ``stranger_evidence`` worth of them and not one member, is settled as a stranger and
embedded no more: the recogniser's time goes to the tracks still in doubt.

The per-track state is a few numbers and at most ``KEEP_VECTORS`` vectors (kept for the anonymous
registry when the track stays unnamed); the pipeline drops it when the track ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

KEEP_VECTORS = 3  # best faces of an unnamed track kept for the anonymous registry
AGAINST_UNNAMED = 0.5  # weight of an attempt that named nobody, against the leading member


@dataclass(frozen=True)
class DecisionPolicy:
    """When a track's face is embedded and when its evidence names a member.

    Attributes:
        min_quality: faces below this quality are not embedded.
        min_face_px: faces narrower than this are not embedded.
        interval: least time between two attempts on one track.
        better_by: a track whose attempts have named nobody so far is embedded again only for a face of at least
            its best quality so far plus this (a better view can change the answer; a like one would not) ...
        doubt: ... unless one attempt's best similarity reached this (just under the threshold): such a track is
            in doubt, and every good face counts, paced.
        max_attempts: attempts per track.
        min_evidence: quality-weighted evidence that names a member.
        strong: similarity at or above which an attempt counts twice (threshold + strong margin).
        stranger_evidence: "nobody" evidence at which a track that no attempt tied to a member is
            settled as a stranger and embedded no more.
    """

    min_quality: float
    min_face_px: float
    interval: timedelta
    better_by: float
    doubt: float
    max_attempts: int
    min_evidence: float
    strong: float
    stranger_evidence: float


@dataclass
class TrackEvidence:
    """What one track has shown so far: a few numbers and at most ``KEEP_VECTORS`` vectors."""

    attempts: int = 0
    best_quality: float = 0.0
    closest: float = -1.0  # the highest similarity to any member over the attempts, named or not
    last_attempt: datetime | None = None
    for_member: dict[str, float] = field(default_factory=dict)
    unnamed: float = 0.0
    best_similarity: dict[str, float] = field(default_factory=dict)
    vectors: list[tuple[float, NDArray[np.float32]]] = field(default_factory=list)  # (quality, (D,) vector)
    member: str | None = None
    stranger: bool = False

    def keep_vector(self, quality: float, vector: NDArray[np.float32]) -> None:
        """Keep the track's best few vectors (for the anonymous registry), dropping the worst."""
        self.vectors.append((quality, vector))
        if len(self.vectors) > KEEP_VECTORS:
            self.vectors.remove(min(self.vectors, key=lambda qv: qv[0]))


@dataclass(frozen=True)
class Attempt:
    """One embedding of a track's face, matched against the gallery.

    Attributes:
        quality: the face's quality in [0, 1].
        member_id: the member the gallery named (threshold and margin met), or None.
        best_id: the most similar member, named or not (for the log).
        similarity: similarity to ``best_id``.
        second: similarity to the runner-up member.
    """

    quality: float
    member_id: str | None
    best_id: str | None
    similarity: float
    second: float


class TrackDecider:
    """Decides, attempt by attempt, whether a track is a member.

    Args:
        policy: quality gate, pacing, budget and evidence bar.
    """

    def __init__(self, policy: DecisionPolicy) -> None:
        self.policy = policy

    def due(self, evidence: TrackEvidence, now: datetime) -> bool:
        """Whether the track may be embedded now: unnamed, within its budget, and paced (cheap, no pixels)."""
        p = self.policy
        if evidence.member is not None or evidence.stranger or evidence.attempts >= p.max_attempts:
            return False
        return evidence.last_attempt is None or now - evidence.last_attempt >= p.interval

    def wants(self, evidence: TrackEvidence, now: datetime, quality: float, width: float) -> bool:
        """Whether to embed this face of the track now: due, a face good enough, and one that can change the answer.

        A track is in doubt once an attempt named a member or came close (``doubt``): then every good face
        counts, paced. Otherwise its faces have been far from every member, and the next attempt must be a
        better face than the best one tried (by ``better_by``): the same view again gives the same "nobody".
        """
        p = self.policy
        if not self.due(evidence, now) or quality < p.min_quality or width < p.min_face_px:
            return False
        in_doubt = bool(evidence.for_member) or evidence.closest >= p.doubt
        return evidence.attempts == 0 or in_doubt or quality >= evidence.best_quality + p.better_by

    def add(self, evidence: TrackEvidence, attempt: Attempt, now: datetime, where: str) -> str | None:
        """Weigh one attempt; the member's id when the track is decided by it, else None.

        Args:
            evidence: the track's evidence, updated in place.
            attempt: the attempt's quality and match.
            now: the attempt's frame time.
            where: camera and track, for the debug log.
        """
        evidence.attempts += 1
        evidence.last_attempt = now
        evidence.best_quality = max(evidence.best_quality, attempt.quality)
        evidence.closest = max(evidence.closest, attempt.similarity)
        if attempt.member_id is None:
            evidence.unnamed += attempt.quality
        else:
            weight = attempt.quality * (2.0 if attempt.similarity >= self.policy.strong else 1.0)
            evidence.for_member[attempt.member_id] = evidence.for_member.get(attempt.member_id, 0.0) + weight
            best = evidence.best_similarity.get(attempt.member_id, -1.0)
            evidence.best_similarity[attempt.member_id] = max(best, attempt.similarity)
        evidence.stranger = not evidence.for_member and evidence.unnamed >= self.policy.stranger_evidence
        decided, reason = self._decide(evidence)
        log.debug(
            "%s attempt %d/%d quality %.2f: best %s %.3f (second %.3f), named %s -> %s",
            where,
            evidence.attempts,
            self.policy.max_attempts,
            attempt.quality,
            attempt.best_id,
            attempt.similarity,
            attempt.second,
            attempt.member_id,
            reason,
        )
        if decided is not None:
            evidence.member = decided
            evidence.vectors.clear()  # a member's face is not kept as an anonymous embedding
        return decided

    def _decide(self, evidence: TrackEvidence) -> tuple[str | None, str]:
        if evidence.stranger:
            return None, f"settled: a stranger (nobody {evidence.unnamed:.2f}, no member named)"
        if not evidence.for_member:
            return None, f"undecided: no member named (nobody {evidence.unnamed:.2f})"
        leader, score = max(evidence.for_member.items(), key=lambda kv: kv[1])
        against = sum(v for m, v in evidence.for_member.items() if m != leader) + AGAINST_UNNAMED * evidence.unnamed
        summary = f"{leader} {score:.2f} against {against:.2f}"
        if score < self.policy.min_evidence:
            return None, f"undecided: {summary}, needs {self.policy.min_evidence:.2f}"
        if score < 2.0 * against:
            return None, f"undecided: {summary}, not twice the evidence against"
        return leader, f"named {summary}"
