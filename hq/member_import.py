"""Head office as a bulk import's sink: each member of a manifest recorded and sent to their stores.

``storelens hq import`` reads the same manifest as a box's ``gallery import`` (``storelens.gallery.bulk``),
through the same face path; each member becomes a signed member change for every store their consent covers
(``ChainMembers.enrol``), which ``hq serve`` delivers. Head office keeps no photo and no photo checksum, so a
rerun recomputes each member's vectors and skips, sending nothing again, a member whose vectors it already
holds to 1e-5.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from storelens.errors import StoreLensError
from storelens.gallery.bulk import Member, Stored
from storelens.gallery.gallery import NewVector
from storelens.hq.registry import ChainMembers

SAME = 1e-5  # largest difference between two vectors of the same photo through the same face path


class HqSink:
    """Head office's member registry as an import's sink.

    Args:
        registry: the chain's members.
        model: the recogniser that makes the vectors.
        known: every store of the chain (scope chain).
        lookalike: similarity at which two members' photos in one import look alike (the recogniser's).
    """

    def __init__(self, registry: ChainMembers, model: str, known: list[str], lookalike: float) -> None:
        self.registry = registry
        self.model = model
        self.known = known
        self.lookalike = lookalike

    def photo_checksums(self) -> dict[str, set[str]]:
        """None: head office keeps no photo checksum (a rerun compares vectors instead)."""
        return {}

    def lookalikes(self, vectors: NDArray[np.float32]) -> tuple[list[str | None], NDArray[np.float32]]:
        """No look-alike check against the registry here: each box checks what it receives against its gallery."""
        return [None] * len(vectors), np.full(len(vectors), -1.0, np.float32)

    def lookalike_threshold(self) -> float:
        """Within one import, photos of two members this alike are still refused (or noted)."""
        return self.lookalike

    def store(self, batch: list[tuple[Member, list[NewVector]]]) -> list[Stored]:
        """Record each member (its own transaction) and queue their change for their stores."""
        out: list[Stored] = []
        for m, news in batch:
            vectors = np.stack([nv.vector for nv in news]).astype(np.float32)
            held = self.registry.vectors_of(m.info.member_id, self.model)
            if held is not None and held.shape == vectors.shape and float(np.abs(held - vectors).max()) <= SAME:
                out.append(Stored("skipped", 0, ["head office already holds these photos' vectors"]))
                continue
            try:
                version, stores = self.registry.enrol(m.info, m.consent, self.model, vectors, m.consent.scope,
                                                      m.home_store, [], self.known)  # fmt: skip
            except StoreLensError as exc:
                out.append(Stored("refused", 0, [str(exc)]))
                continue
            out.append(Stored("enrolled", len(news), [f"version {version}, sent to {', '.join(stores)}"]))
        return out
