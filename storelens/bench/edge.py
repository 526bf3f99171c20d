"""``storelens bench`` part 3: the edge pipeline on the sample video.

- Analysed fps of one camera, and detector-only fps on the same analysed frames (goal: ratio >= 0.85).
- How many 720p cameras this machine sustains at 5 analysed fps: N cameras run concurrently, each
  decoding its own copy of the clip; a camera keeps up when it gets through the clip faster than real
  time (goal >= 4). N is searched from an estimate (one camera's real-time factor), lowered by the
  slowest camera's factor until a count holds, and the next count up is tried once.
- Capture-to-publish latency p50/p95 (frame read to the broker's PUBACK; goal p95 <= 300 ms).
- The same first seconds of the clip through two per-frame baselines: the naive way (detect and embed
  every face of every frame with the same models, like insightface's FaceAnalysis.get) and the
  face_recognition library (dlib HOG + ResNet, its defaults). Frames per second of clip and members found.
"""

from __future__ import annotations

import importlib
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from storelens.apps.edge import EdgeApp, build_pipeline
from storelens.config import Config
from storelens.edge.capture import FileReader
from storelens.edge.pipeline import CameraPipeline
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.edge_events import ArrivalEvent
from storelens.gallery.factory import open_gallery
from storelens.gallery.gallery import Gallery
from storelens.sample_videos.generate import load_truth, sample_video
from storelens.sample_videos.members import enrol_scenario_members
from storelens.sample_videos.photos import fetch_photos
from storelens.stage_messages import FaceModels, Frame, PersonFinder
from storelens.transport.local import LocalBroker, mosquitto_binary

START_AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # one footfall interval holds each clip: no split counts
START = "<!-- storelens-bench:edge:{pack}:start -->"
END = "<!-- storelens-bench:edge:{pack}:end -->"


def scenario_config(video: Path, gallery_dir: Path, extra: dict[str, Any] | None = None) -> Config:
    """The sample scenario's camera, with the members' gallery."""
    truth = load_truth()
    return Config.model_validate(
        {
            "store": {"id": "bench"},
            "cameras": [{"id": "entrance", "source": str(video), "entry_line": truth["camera"]["entry_line"]}],
            "gallery": {"dir": str(gallery_dir), "refresh_seconds": 3600},
        }
        | (extra or {})
    )


def enrol_members(fm: FaceModels, gallery_dir: Path) -> None:
    """Enrol the scenario's members into ``gallery_dir``."""
    config = scenario_config(Path("x"), gallery_dir)
    gallery = open_gallery(config, fm.recogniser_spec)
    try:
        enrol_scenario_members(gallery, fm, config, load_truth(), "bench")
    finally:
        gallery.close()


def read_frames(video: Path, seconds: float | None = None, every: int = 1) -> list[Frame]:
    """Decoded frames of the clip (every ``every``-th, up to ``seconds`` of video), timed as the clip plays.

    Each frame's time is the clip's own (start + index / fps), as a file reader gives it: the pipeline paces
    its embedding attempts by frame time, so frames stamped at decoding speed would starve it of attempts.
    """
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    start = datetime.now(UTC)
    frames, i = [], 0
    while True:
        ok, img = cap.read()
        if not ok or (seconds is not None and i >= seconds * fps):
            break
        if i % every == 0:
            frames.append(Frame(np.ascontiguousarray(img), "entrance", i, start + timedelta(seconds=i / fps)))
        i += 1
    cap.release()
    return frames


def new_pipeline(
    fm: FaceModels, config: Config, gallery: Gallery, people: PersonFinder | None = None
) -> CameraPipeline:
    """A fresh pipeline for the scenario's camera, with its own cooldown and anonymous registry.

    ``people``: the person detector, so that people are counted from their bodies as the edge counts them.
    """
    visitors = AnonymousRegistry(12, 10, gallery.policy.visitor_match)
    return build_pipeline(config, config.cameras[0], fm, gallery, ArrivalCooldown(30), visitors, people=people)


def run_pipeline(
    fm: FaceModels, config: Config, gallery: Gallery, frames: list[Frame], people: PersonFinder | None = None
) -> tuple[float, set[str], list[int]]:
    """Seconds to analyse ``frames`` with a fresh pipeline, the members it announced, and attempts per track."""
    pipeline = new_pipeline(fm, config, gallery, people)
    t0 = time.perf_counter()
    events = []
    for f in frames:
        events += pipeline.process(f)
    events += pipeline.finish(frames[-1].ts)
    elapsed = time.perf_counter() - t0
    return elapsed, {e.member_id for e in events if isinstance(e, ArrivalEvent)}, list(pipeline.attempts_per_track)


def slowest_factor(
    fm: FaceModels, config: Config, gallery_dir: Path, video: Path, n: int, people: PersonFinder | None = None
) -> tuple[float, float]:
    """``n`` cameras analyse their own copy of ``video`` at once, decoding included.

    One person detector is shared by the cameras, as the edge shares it.

    Returns the slowest camera's real-time factor (>= 1: it keeps up), and the process's CPU seconds per
    second of clip per camera (what one more camera costs).
    """
    factors: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(n + 1)
    clip_seconds: list[float] = []

    def one(k: int) -> None:
        gallery = open_gallery(config, fm.recogniser_spec, gallery_dir)
        try:
            pipeline = new_pipeline(fm, config, gallery, people)
            reader = FileReader(f"cam{k}", str(video), 5.0, start=START_AT)
            ready.wait()
            t0 = time.perf_counter()
            last = None
            while (frame := reader.next()) is not None:
                pipeline.process(frame)
                last = frame
            elapsed = time.perf_counter() - t0
            clip = (last.index + 1) / reader.video_fps if last else 0.0
            with lock:
                factors.append(clip / elapsed)
                clip_seconds.append(clip)
        finally:
            gallery.close()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    ready.wait()
    cpu = time.process_time()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu
    if len(factors) != n:
        return 0.0, math.inf
    return min(factors), cpu / max(sum(clip_seconds), 1e-9)


def sustained(
    run: Callable[[int], tuple[float, float]], cpu_per_clip_second: float, limit: int
) -> tuple[int, dict[int, float]]:
    """The most cameras that keep up (slowest factor >= 1); every count tried, with its factor.

    The search starts from what the CPU allows (90 % of the cores over one camera's CPU per clip second),
    lowers a count that falls behind by its slowest factor until one holds, then tries a tenth more; when
    that holds too, it tries once more as far as that count's slowest factor points.
    """
    tried: dict[int, float] = {}
    cores = os.cpu_count() or 1
    n = max(1, min(limit, math.floor(0.9 * cores / max(cpu_per_clip_second, 1e-9))))
    while True:
        tried[n] = run(n)[0]
        if tried[n] >= 1.0 or n == 1:
            break
        n = max(1, min(n - 1, math.floor(n * tried[n])))
    best = n if tried[n] >= 1.0 else 0
    up = best + max(1, best // 10)
    if best and up <= limit and up not in tried:
        tried[up] = run(up)[0]
        if tried[up] >= 1.0:  # the estimate was low: climb from here by the factor the next count showed
            best = up
            more = min(limit, math.floor(up * tried[up]))
            if more > up:
                tried[more] = run(more)[0]
                best = more if tried[more] >= 1.0 else best
    return best, dict(sorted(tried.items()))


def naive_baseline(fm: FaceModels, gallery: Gallery, frames: list[Frame]) -> tuple[float, set[str], int]:
    """Detect and embed every face of every frame; seconds, members found, member sightings."""
    found: set[str] = set()
    sightings = 0
    t0 = time.perf_counter()
    for f in frames:
        faces = fm.detector.detect(f)
        if len(faces):
            matches = gallery.match(fm.embedder.embed(f, faces))
            named = [m for m in matches.member_ids if m]
            sightings += len(named)
            found.update(named)
    return time.perf_counter() - t0, found, sightings


def face_recognition_baseline(frames: list[Frame]) -> tuple[float, set[str], int] | None:
    """The face_recognition library per frame (HOG, its default upsampling, tolerance 0.6)."""
    try:
        # face_recognition prints a line and quits when its models package cannot load (it needs setuptools'
        # pkg_resources): that package is imported first, so a bench without it skips the baseline cleanly.
        importlib.import_module("face_recognition_models")
        import face_recognition  # bench-only: pip install --no-deps face_recognition==1.3.0
    except ImportError:
        return None
    truth, photos = load_truth(), fetch_photos()
    known, names = [], []
    for m in truth["members"]:
        for p in m["enrol_photos"]:
            image = face_recognition.load_image_file(str(photos[p]))
            known += face_recognition.face_encodings(image)[:1]
            names.append(m["member_id"])
    found: set[str] = set()
    sightings = 0
    t0 = time.perf_counter()
    for f in frames:
        rgb = np.ascontiguousarray(f.image[:, :, ::-1])
        locations = face_recognition.face_locations(rgb)
        for enc in face_recognition.face_encodings(rgb, locations):
            hits = face_recognition.compare_faces(known, enc, tolerance=0.6)
            dists = face_recognition.face_distance(known, enc)
            if any(hits):
                found.add(names[int(np.argmin(dists))])
                sightings += 1
    return time.perf_counter() - t0, found, sightings


def edge_through_broker(fm: FaceModels, config: Config, realtime: bool = False) -> EdgeApp | None:
    """The edge process on ``config``'s cameras, publishing to a Mosquitto of its own (None when not installed).

    Returns the app after its run: its latencies (capture to PUBACK) and its greeted members.
    """
    if mosquitto_binary() is None:
        return None
    broker = LocalBroker().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            edge = {"outbox": str(Path(tmp) / "o.sqlite"), "metrics_port": -1, "file_realtime": realtime}
            live = config.model_copy(
                update={
                    "mqtt": config.mqtt.model_copy(update={"url": broker.url}),
                    "edge": config.edge.model_copy(update=edge),
                }
            )
            app = EdgeApp(live, fm)
            app.run()
            return app
    finally:
        broker.stop()


def latency(fm: FaceModels, video: Path, gallery_dir: Path) -> dict[str, Any] | None:
    """Capture-to-PUBACK latency through a real Mosquitto (None when Mosquitto is not installed)."""
    runner = edge_through_broker(fm, scenario_config(video, gallery_dir))
    if runner is None:
        return None
    summary = runner.summary()
    return {
        "p50_ms": summary["latency_ms_p50"],
        "p95_ms": summary["latency_ms_p95"],
        "events": len(runner.times.latencies_ms),
    }


def measure_edge(
    fm: FaceModels,
    pack: str,
    runs: int,
    baseline_seconds: float = 15.0,
    max_cameras: int = 64,
    people: PersonFinder | None = None,
) -> dict[str, Any]:
    """Part 3 results for the model set ``pack`` (loaded as ``fm``), people counted by ``people``."""
    video = sample_video(fm)
    truth = load_truth()
    with tempfile.TemporaryDirectory() as tmp:
        gallery_dir = Path(tmp) / "gallery"
        enrol_members(fm, gallery_dir)
        config = scenario_config(video, gallery_dir, {"models": {"pack": pack}})
        gallery = open_gallery(config, fm.recogniser_spec)
        analysed = read_frames(video, every=5)
        pipe = [run_pipeline(fm, config, gallery, analysed, people) for _ in range(runs)]
        pipe_s = statistics.median(p[0] for p in pipe)
        det_s = statistics.median(_timed(lambda: [fm.detector.detect(f) for f in analysed]) for _ in range(runs))
        alone, cpu_rate = slowest_factor(fm, config, gallery_dir, video, 1, people)
        cameras, tried = sustained(
            lambda n: slowest_factor(fm, config, gallery_dir, video, n, people), cpu_rate, max_cameras
        )
        factor_by_n = {1: round(alone, 2)} | {k: round(v, 2) for k, v in tried.items()}
        lat = latency(fm, video, gallery_dir)
        clip = read_frames(video, seconds=baseline_seconds)
        ours_s, ours_found, _ = run_pipeline(fm, config, gallery, clip[::5], people)
        decode_s = _timed(lambda: read_frames(video, seconds=baseline_seconds))
        naive_s, naive_found, naive_sightings = naive_baseline(fm, gallery, clip)
        fr = face_recognition_baseline(clip)
        gallery.close()
    expected = {m for m in truth["expected"]["arrivals"]}
    ours_fps = len(clip) / (ours_s + decode_s)
    out: dict[str, Any] = {
        "part": "edge",
        "pack": pack,
        "set": f"{fm.detector_spec.name} + {fm.recogniser_spec.name}",
        "clip": f"{video.name}, 1280x720, {len(analysed)} analysed frames of {len(analysed) * 5} at 5 fps",
        "analysed_fps": round(len(analysed) / pipe_s, 2),
        "detector_only_fps": round(len(analysed) / det_s, 2),
        "pipeline_over_detector": round(det_s / pipe_s, 3),
        "arrivals": sorted(pipe[0][1]),
        "tracks": len(pipe[0][2]),
        "embeddings_per_track_mean": round(statistics.mean(pipe[0][2]), 2) if pipe[0][2] else 0.0,
        "embeddings_per_track_max": max(pipe[0][2], default=0),
        "cameras_at_5fps": cameras,
        "realtime_factor_by_cameras": factor_by_n,
        "latency": lat,
        "baseline_clip": f"first {baseline_seconds:g} s ({len(clip)} frames); expected members {sorted(expected)}",
        "ours_clip_fps": round(ours_fps, 2),
        "ours_members": sorted(ours_found),
        "naive_fps": round(len(clip) / (naive_s + decode_s), 2),
        "naive_members": sorted(naive_found),
        "naive_sightings": naive_sightings,
    }
    out["ours_over_naive"] = round(ours_fps / out["naive_fps"], 2)
    if fr is not None:
        out["face_recognition_fps"] = round(len(clip) / (fr[0] + decode_s), 3)
        out["face_recognition_members"] = sorted(fr[1])
        out["ours_over_face_recognition"] = round(ours_fps / out["face_recognition_fps"], 1)
    return out


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def edge_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-3 section of docs/benchmarks.md."""
    lat = r["latency"] or {}
    fr_fps = r.get("face_recognition_fps")
    lines = [
        START.format(pack=r["pack"]),
        f"## Part 3: edge pipeline ({r['set']})",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        f"- Clip: the sample video ({r['clip']}); members enrolled from other photos than the video shows.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| analysed fps, one camera (detect, track, recognise, count; median of runs) | {r['analysed_fps']} | |",
        f"| detector-only fps on the same analysed frames | {r['detector_only_fps']} | |",
        f"| pipeline throughput / detector-only throughput | {r['pipeline_over_detector']} | >= 0.85 |",
        f"| 720p cameras sustained at 5 analysed fps (decode included) | {r['cameras_at_5fps']} | >= 4 |",
        f"| real-time factor of the slowest camera, by cameras running at once | {r['realtime_factor_by_cameras']} | |",
        f"| capture-to-publish latency p50 / p95, ms (frame read to broker PUBACK, {lat.get('events', 0)} events) | "
        f"{_ms(lat.get('p50_ms'))} / {_ms(lat.get('p95_ms'))} | p95 <= 300 |",
        f"| members announced on the whole clip | {', '.join(r['arrivals'])} | each once |",
        f"| embeddings per track, mean / max ({r['tracks']} tracks) | {r['embeddings_per_track_mean']} / "
        f"{r['embeddings_per_track_max']} | |",
        "",
        f"Baselines on the {r['baseline_clip']}, decoding included, every method on the same frames:",
        "",
        "| method | clip frames per second | members found | ours faster by |",
        "|---|---|---|---|",
        f"| StoreLens (5 fps analysis, tracking, best faces only) | {r['ours_clip_fps']} | "
        f"{', '.join(r['ours_members'])} | |",
        f"| naive per-frame: detect and embed every face of every frame, same models | {r['naive_fps']} | "
        f"{', '.join(r['naive_members'])} ({r['naive_sightings']} sightings) | {r['ours_over_naive']}x (goal >= 3) |",
    ]
    if fr_fps is not None:
        lines.append(
            f"| face_recognition 1.3.0 per frame (dlib HOG, upsample 1, ResNet, tolerance 0.6) | {fr_fps} | "
            f"{', '.join(r['face_recognition_members']) or 'none'} | {r['ours_over_face_recognition']}x (goal >= 5) |"
        )
    else:
        lines.append(
            "| face_recognition per frame | not measured (install: pip install --no-deps face_recognition) | | |"
        )
    lines.append(END.format(pack=r["pack"]))
    return "\n".join(lines) + "\n"


def _ms(v: Any) -> str:
    return f"{v:.0f}" if isinstance(v, int | float) else "n/a"
