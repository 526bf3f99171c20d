"""The FAISS index over L2-normalised vectors (inner product = cosine similarity).

Small galleries use exact search (``IndexIDMap2`` over ``IndexFlatIP``). Large ones use
``IndexIVFFlat`` with inner product, which keeps ``remove_ids`` (erasure) and needs no rebuild to
forget a member. The file holds a small header with the database generation it was built from,
then FAISS's own serialisation; it is written to a temporary file, fsynced and renamed.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
from numpy.typing import NDArray

from storelens.errors import GalleryError

log = logging.getLogger(__name__)

MAGIC = b"SLIDX001"
FEW_QUERIES = 16  # up to this many queries are searched on the calling thread alone (see search)
IndexKind = Literal["flat", "ivf"]


def choose_kind(n: int, setting: str, ivf_min_vectors: int) -> IndexKind:
    """Exact search when small (or asked), IVF when large (or asked)."""
    if setting == "flat":
        return "flat"
    if setting == "ivf":
        return "ivf"
    return "ivf" if n >= ivf_min_vectors else "flat"


class VectorIndex:
    """Vectors by id, searched by inner product.

    Args:
        dim: vector size D.
        kind: "flat" (exact) or "ivf".
        nprobe: IVF lists searched per query.
    """

    def __init__(self, dim: int, kind: IndexKind = "flat", nprobe: int = 32) -> None:
        self.dim = dim
        self.kind: IndexKind = kind
        self.nprobe = nprobe
        self.index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.trained_on = 0

    @property
    def ntotal(self) -> int:
        """Number of vectors."""
        return int(self.index.ntotal)

    def build(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        """Replace the contents with ``vectors`` (N, D) under ``ids`` (N,); IVF is trained on them."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.kind == "ivf" and len(vectors) >= 1000:
            nlist = int(min(16384, max(64, 2 ** round(math.log2(4 * math.sqrt(len(vectors)))))))
            quantizer = faiss.IndexFlatIP(self.dim)
            ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = vectors
            if len(vectors) > 64 * nlist:  # k-means needs ~40-256 points per list; a sample is enough
                pick = np.random.default_rng(0).choice(len(vectors), 64 * nlist, replace=False)
                sample = vectors[np.sort(pick)]
            ivf.train(sample)
            ivf.nprobe = self.nprobe
            self.index = ivf
        else:  # IVF cannot be trained on fewer than ~1000 vectors: exact search until then
            self.kind = "flat"
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.trained_on = len(vectors)
        if len(vectors):
            self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        """Add vectors (K, D) under ids (K,)."""
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
            )

    def remove(self, ids: NDArray[np.int64]) -> int:
        """Remove vectors by id; returns how many were removed."""
        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        return int(self.index.remove_ids(selector))

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Top-k by inner product.

        Args:
            queries: (N, D) float32, L2-normalised.
            k: neighbours per query.

        Returns:
            similarities (N, k) float32 and ids (N, k) int64; id -1 where fewer than k exist.
        """
        n = len(queries)
        if self.ntotal == 0 or n == 0:
            return np.full((n, k), -1.0, np.float32), np.full((n, k), -1, np.int64)
        if n > FEW_QUERIES:
            sims, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
            return sims.astype(np.float32), ids.astype(np.int64)
        # A camera's few faces: on one thread. OpenMP's team, waking beside the detector's spinning threads, made a
        # 0.03 ms search take 4 ms on the 2-core box. The setting is the calling thread's own (OpenMP's nthreads-var).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            sims, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        finally:
            faiss.omp_set_num_threads(threads)
        return sims.astype(np.float32), ids.astype(np.int64)

    def memory_bytes(self) -> int:
        """Size of the serialised index, a close measure of its memory."""
        return int(faiss.serialize_index(self.index).nbytes)

    def save(self, path: Path, generation: int) -> None:
        """Write atomically: temporary file, fsync, rename, fsync of the directory."""
        data = faiss.serialize_index(self.index)
        header = MAGIC + struct.pack("<QQ", generation, self.trained_on)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(header)
            fh.write(data.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @classmethod
    def load(cls, path: Path, dim: int, nprobe: int) -> tuple[VectorIndex, int]:
        """Read an index file; returns it with the generation it was built from.

        Raises:
            GalleryError: the file is not a StoreLens index or has another dimension.
        """
        raw = path.read_bytes()
        if len(raw) < 24 or raw[:8] != MAGIC:
            raise GalleryError(f"{path}: not a StoreLens gallery index")
        generation, trained_on = struct.unpack("<QQ", raw[8:24])
        try:
            index = faiss.deserialize_index(np.frombuffer(raw[24:], dtype=np.uint8))
        except RuntimeError as exc:
            raise GalleryError(f"{path}: corrupt gallery index: {exc}") from exc
        if index.d != dim:
            raise GalleryError(f"{path}: index holds {index.d}-d vectors, expected {dim}")
        out = cls(dim, "ivf" if isinstance(index, faiss.IndexIVF) else "flat", nprobe)
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = nprobe
        out.index = index
        out.trained_on = int(trained_on)
        return out, int(generation)
