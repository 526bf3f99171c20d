"""``storelens bench`` part 2: the gallery.

Enrolment photos per second on the registry photos, and at 10k, 100k and 1M vectors the search
latency (p50, p99 of single queries, as the edge asks them), recall@1 against exact search, index
memory and the time to erase a member. Scale uses synthetic unit vectors (one per person) and probes
that are noisy copies of enrolled vectors (cosine about 0.95, like a new photo of a known face).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from storelens.config import Config, GalleryConfig, default_config
from storelens.face_path import face_path
from storelens.gallery.enrol import Enroller, enroll_photos
from storelens.gallery.factory import open_gallery
from storelens.gallery.index import VectorIndex, choose_kind
from storelens.gallery.records import Consent, MemberInfo
from storelens.sample_videos.photos import fetch_photos
from storelens.stage_messages import FaceModels

START = "<!-- storelens-bench:gallery:start -->"
END = "<!-- storelens-bench:gallery:end -->"
ENROL_SET = {
    "obama": ["obama.jpg", "obama2.jpg", "obama3.jpg"],
    "biden": ["biden.jpg"],
    "gauss": ["gauss.png"],
    "newton": ["newton.png"],
}


def enrolment_rate(fm: FaceModels, runs: int) -> float:
    """Photos enrolled per second (median over runs, each into a fresh gallery)."""
    photos = fetch_photos()
    config = default_config().model_copy(update={"gallery": GalleryConfig(refresh_seconds=0)})
    rates = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            gallery = open_gallery(config, fm.recogniser_spec, Path(tmp))
            enroller = Enroller(face_path(fm, config.detection), config.enrolment, config.privacy_rules())
            t0 = time.perf_counter()
            n = 0
            for mid, names in ENROL_SET.items():
                consent = Consent(reference="BENCH", notice_version="1", purpose="bench")
                enroll_photos(gallery, enroller, MemberInfo(member_id=mid), consent, [photos[p] for p in names])
                n += len(names)
            rates.append(n / (time.perf_counter() - t0))
            gallery.close()
    return statistics.median(rates)


def describe(index: VectorIndex) -> str:
    """Index kind with its IVF parameters."""
    if index.kind != "ivf":
        return "flat (exact)"
    return f"IVF (nlist {getattr(index.index, 'nlist', 0)}, nprobe {index.nprobe})"


def scale_point(n: int, dim: int, config: GalleryConfig, queries: int = 1000) -> dict[str, Any]:
    """Build the index the gallery would choose for ``n`` vectors and measure it."""
    rng = np.random.default_rng(n)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(n, dtype=np.int64)
    kind = choose_kind(n, config.index, config.ivf_min_vectors)
    index = VectorIndex(dim, kind, config.ivf_nprobe)
    t0 = time.perf_counter()
    index.build(ids, vectors)
    build_s = time.perf_counter() - t0
    queries = min(queries, n)  # a small gallery is queried with each of its members
    picked = rng.choice(n, queries, replace=False)
    probes = vectors[picked] + 0.02 * rng.standard_normal((queries, dim), dtype=np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    _, truth = exact.search(probes, 1)
    latencies, top = [], []
    for q in probes:
        t = time.perf_counter()
        _, got = index.search(q[None], 16)
        latencies.append((time.perf_counter() - t) * 1000)
        top.append(got[0, 0])
    erase = []
    for victim in picked[:5]:
        t = time.perf_counter()
        index.remove(np.array([victim], dtype=np.int64))
        erase.append((time.perf_counter() - t) * 1000)
    return {
        "vectors": n,
        "index": describe(index),
        "build_s": round(build_s, 2),
        "p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "p99_ms": round(float(np.percentile(latencies, 99)), 3),
        "recall_at_1": round(float(np.mean(np.array(top) == truth[:, 0])), 4),
        "probe_cosine": round(float(np.mean(np.sum(probes * vectors[picked], axis=1))), 3),
        "memory_mib": round(index.memory_bytes() / 2**20, 1),
        "erase_ms": round(statistics.median(erase), 3),
    }


def measure_gallery(fm: FaceModels, runs: int, scales: list[int], config: Config | None = None) -> dict[str, Any]:
    """Part 2 results."""
    cfg = (config or default_config()).gallery
    dim = int(fm.recogniser_spec.embedding_size or 128)
    return {
        "part": "gallery",
        "enrolment_photos_per_s": round(enrolment_rate(fm, max(1, min(runs, 3))), 2),
        "scales": [scale_point(n, dim, cfg) for n in scales],
    }


def gallery_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-2 section of docs/benchmarks.md."""
    lines = [
        START,
        "## Part 2: gallery",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        f"- Enrolment: {r['enrolment_photos_per_s']} photos per second (registry photos: detect, quality checks, "
        "embed, conflict check, SQLite commit, index write; median of up to 3 runs)",
        "- Scale: synthetic 128-d unit vectors, 1000 single-vector queries that are noisy copies of enrolled vectors "
        "(mean cosine to their source in the table); recall@1 is against exact inner-product search on the same data.",
        "  Goal at 1M: p99 <= 2 ms, recall@1 >= 0.99.",
        "",
        "| vectors | index | build s | p50 ms | p99 ms | recall@1 | probe cosine | index memory MiB | erase ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["scales"]:
        lines.append(
            f"| {s['vectors']:,} | {s['index']} | {s['build_s']} | {s['p50_ms']} | {s['p99_ms']} | "
            f"{s['recall_at_1']} | {s['probe_cosine']} | {s['memory_mib']} | {s['erase_ms']} |"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"
