"""Once per visit: the store-wide arrival cooldown and the in-memory anonymous visitor registry.

Anonymous visitors exist only here, as short-lived embeddings in memory: never written to disk,
never sent, forgotten after the TTL, never enrolled.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray


class ArrivalCooldown:
    """One arrival per member per visit, across all cameras of the store.

    Args:
        minutes: a member announced within this many minutes is not announced again.
    """

    def __init__(self, minutes: float) -> None:
        self.window = timedelta(minutes=minutes)
        self._last: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, member_id: str, now: datetime) -> bool:
        """True (and start the cooldown) when the member should be announced now."""
        with self._lock:
            self._evict(now)
            last = self._last.get(member_id)
            if last is not None and now - last < self.window:
                return False
            self._last[member_id] = now
            return True

    def _evict(self, now: datetime) -> None:
        for member in [m for m, t in self._last.items() if now - t >= self.window]:
            del self._last[member]

    def __len__(self) -> int:
        return len(self._last)


def new_token(kind: str) -> str:
    """A random opaque id such as ``anon-1f3a9c0b2d4e``: it says nothing about the person."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"


@dataclass
class _Anon:
    anon_id: str
    vector: NDArray[np.float32]
    last_seen: datetime


@dataclass(frozen=True)
class VisitorDecision:
    """Who an anonymous face is.

    Attributes:
        anon_id: stable id while the person is remembered.
        returning: seen on an earlier visit within the TTL.
        new_visit: False when this is the same visit as a recent sighting (no new visitor event).
    """

    anon_id: str
    returning: bool
    new_visit: bool


class AnonymousRegistry:
    """Recently seen strangers, as one embedding each, in memory only.

    Args:
        ttl_hours: how long a stranger is remembered after last being seen.
        visit_gap_minutes: an absence longer than this starts a new visit.
        threshold: cosine similarity above which two faces are the same stranger.
    """

    def __init__(self, ttl_hours: float, visit_gap_minutes: float, threshold: float) -> None:
        self.ttl = timedelta(hours=ttl_hours)
        self.gap = timedelta(minutes=visit_gap_minutes)
        self.threshold = threshold
        self._people: list[_Anon] = []
        self._members: dict[str, tuple[str, datetime]] = {}  # member id -> (visitor token, last seen)
        self._lock = threading.Lock()

    def member_token(self, member_id: str, now: datetime) -> str:
        """The footfall token of a member: random, the same for the TTL, then forgotten.

        Footfall events carry it instead of the member id, so that counting a member once per day
        leaves nothing in the reports that links back to them once erased.
        """
        with self._lock:
            self._evict(now)
            token = self._members.get(member_id, (new_token("visitor"), now))[0]
            self._members[member_id] = (token, now)
            return token

    def resolve(self, vectors: NDArray[np.float32], now: datetime) -> VisitorDecision:
        """Match a track's embeddings (K, D) against remembered strangers, or remember a new one."""
        probe = vectors.mean(axis=0)
        probe = (probe / max(float(np.linalg.norm(probe)), 1e-12)).astype(np.float32)
        with self._lock:
            self._evict(now)
            best, best_sim = None, -1.0
            for person in self._people:
                sim = float(person.vector @ probe)
                if sim > best_sim:
                    best, best_sim = person, sim
            if best is not None and best_sim >= self.threshold:
                new_visit = now - best.last_seen > self.gap
                merged = best.vector + probe
                best.vector = (merged / max(float(np.linalg.norm(merged)), 1e-12)).astype(np.float32)
                best.last_seen = max(best.last_seen, now)
                return VisitorDecision(best.anon_id, returning=new_visit, new_visit=new_visit)
            person = _Anon(new_token("anon"), probe, now)
            self._people.append(person)
            return VisitorDecision(person.anon_id, returning=False, new_visit=True)

    def _evict(self, now: datetime) -> None:
        self._people = [p for p in self._people if now - p.last_seen <= self.ttl]
        for member in [m for m, (_, seen) in self._members.items() if now - seen > self.ttl]:
            del self._members[member]

    def __len__(self) -> int:
        return len(self._people)
