"""``storelens bench --part gating``: motion gating, cameras per box, and time to greet (part 9).

Two clips generated from the same registry faces, each with its truth: the busy sample video (34 s, someone
in view nearly all the time) and the store-day clip (90 s, people in view 19.5 s of it: quiet stretches, one
member, a passer-by, a rush of three). Every figure is taken with motion gating off and on, in the same run.

- **Outcomes.** One camera analyses the clip at 5 fps as fast as it can: arrivals, entries and unique
  visitors against the truth, embeddings per track, frames the detector ran on.
- **Cameras sustained at 5 analysed fps**, decoding included: N cameras (threads of one process, as the
  edge runs them) each decode their own copy of the clip; a camera keeps up when it gets through the clip
  faster than real time. N is first estimated from one camera's CPU seconds per clip second, then run
  together; a count that falls behind is lowered by the slowest camera's real-time factor until one holds,
  and the next count up is tried once.
- **Time to greet**, what an associate feels: the clip played at its own pace through the edge process
  (``EdgeApp``, a real Mosquitto), from the moment each member's face is in clear view (the truth's end of
  blur, turn and cover) to the broker's PUBACK of their arrival; capture-to-publish latency from the same runs.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from storelens.bench.edge import (
    START_AT,
    edge_through_broker,
    enrol_members,
    new_pipeline,
    scenario_config,
    slowest_factor,
    sustained,
)
from storelens.config import Config
from storelens.edge.capture import FileReader
from storelens.edge.people import PersonDetector
from storelens.edge_events import ArrivalEvent, FootfallEvent
from storelens.gallery.factory import open_gallery
from storelens.sample_videos.generate import STORE_DAY, TRUTH, clear_view_at, load_truth, sample_video
from storelens.stage_messages import FaceModels, PersonFinder

log = logging.getLogger(__name__)
START = "<!-- storelens-bench:gating:start -->"
END = "<!-- storelens-bench:gating:end -->"
CLIPS = {"busy": TRUTH, "store day": STORE_DAY}


def gated(config: Config, on: bool) -> Config:
    """``config`` with motion gating on or off."""
    return config.model_copy(update={"edge": config.edge.model_copy(update={"motion_gating": on})})


def outcomes(fm: FaceModels, config: Config, video: Path, people: PersonFinder | None = None) -> dict[str, Any]:
    """One camera through the clip at 5 fps, as fast as it goes: what it found, and its CPU seconds."""
    gallery = open_gallery(config, fm.recogniser_spec)
    try:
        pipeline = new_pipeline(fm, config, gallery, people)
        reader = FileReader("entrance", str(video), 5.0, start=START_AT)
        events: list[Any] = []
        cpu, wall = time.process_time(), time.perf_counter()
        last = None
        while (frame := reader.next()) is not None:
            events += pipeline.process(frame)
            last = frame
        if last is None:
            raise RuntimeError(f"{video}: no frame")
        events += pipeline.finish(last.ts)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        gallery.close()
    footfall = [e for e in events if isinstance(e, FootfallEvent)]
    attempts = list(pipeline.attempts_per_track)
    gate = pipeline.gate
    return {
        "clip_seconds": round((last.index + 1) / reader.video_fps, 1),
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "arrivals": sorted(e.member_id for e in events if isinstance(e, ArrivalEvent)),
        "entries": sum(e.entries for e in footfall),
        "exits": sum(e.exits for e in footfall),
        "passers_by": sum(e.passers_by for e in footfall),
        "unique_visitors": sum(e.unique_visitors or 0 for e in footfall),
        "embeddings_per_track_mean": round(statistics.mean(attempts), 2) if attempts else 0.0,
        "tracks": len(attempts),
        "detector_frames": f"{gate.looked} of {gate.looked + gate.skipped}" if gate else "every frame",
    }


def time_to_greet(fm: FaceModels, config: Config, video: Path, truth: dict[str, Any]) -> dict[str, Any] | None:
    """The clip at its own pace through the edge and a real Mosquitto (None without Mosquitto).

    Returns per member the seconds from clear view to the arrival's PUBACK, and the run's latency p50/p95.
    """
    app = edge_through_broker(fm, config, realtime=True)
    if app is None:
        return None
    summary = app.summary()
    reader = app.loops["entrance"].reader
    if not isinstance(reader, FileReader):
        raise RuntimeError("the clip was not read as a file")
    start = reader.start
    first_sight: dict[str, float] = {}
    for person in sorted(truth["people"], key=lambda p: float(p["t0"])):
        if person["member_id"] and person["member_id"] not in first_sight:
            first_sight[person["member_id"]] = clear_view_at(person)
    greet = {
        member: round((acked - (start + timedelta(seconds=first_sight[member]))).total_seconds(), 2)
        for member, acked in app.times.greeted
        if member in first_sight
    }
    return {
        "greet_seconds": dict(sorted(greet.items())),
        "named": sorted(member for member, _ in app.times.greeted),
        "latency_p50_ms": summary["latency_ms_p50"],
        "latency_p95_ms": summary["latency_ms_p95"],
        "events": len(app.times.latencies_ms),
    }


def measure_gating(fm: FaceModels, max_cameras: int = 64, people: PersonFinder | None = None) -> dict[str, Any]:
    """Part 9, for the default model set loaded as ``fm``, people counted from their bodies by ``people``."""
    cores = os.cpu_count() or 1
    clips: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        gallery_dir = Path(tmp) / "gallery"
        enrol_members(fm, gallery_dir)
        for name, truth_path in CLIPS.items():
            truth = load_truth(truth_path)
            video = sample_video(fm, truth_path)
            base = scenario_config(video, gallery_dir)
            rows: dict[str, Any] = {}
            for on in (False, True):
                config = gated(base, on)
                found = outcomes(fm, config, video, people)
                cameras, tried = sustained(
                    partial(slowest_factor, fm, config, gallery_dir, video, people=people),
                    found["cpu_seconds"] / found["clip_seconds"],
                    max_cameras,
                )
                rows["on" if on else "off"] = found | {
                    "cameras_at_5fps": cameras,
                    "factor_by_cameras": {k: round(v, 2) for k, v in tried.items()},
                    "greet": time_to_greet(fm, config, video, truth),
                }
                log.info("%s, gating %s: %s", name, "on" if on else "off", json.dumps(rows["on" if on else "off"]))
            clips[name] = {
                "clip": f"{video.name}, {rows['off']['clip_seconds']} s",
                "truth": truth["expected"],
                "in_view_share": _in_view_share(truth),
                **rows,
            }
    return {
        "part": "gating",
        "set": f"{fm.detector_spec.name} + {fm.recogniser_spec.name}"
        + (f", people by {people.spec.name}" if isinstance(people, PersonDetector) else ""),
        "cores": cores,
        "clips": clips,
    }


def _in_view_share(truth: dict[str, Any]) -> float:
    """Share of the clip in which at least one person is in view (the union of their appearances)."""
    spans = sorted((float(p["t0"]), float(p["t1"])) for p in truth["people"])
    covered, end = 0.0, -1.0
    for a, b in spans:
        if b > end:
            covered += b - max(a, end)
            end = b
    return round(covered / float(truth["video"]["seconds"]), 3)


def gating_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-9 section of docs/benchmarks.md."""
    lines = [
        START,
        f"## Part 9: motion gating, cameras per box and time to greet ({r['set']})",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        "- Clips: the busy sample video and the store-day clip (sample_videos/store_day.json), generated from the",
        "  same registry faces; members enrolled from other photos than the clips show. Gating off and on in the",
        "  same run. Cameras: N cameras decoding their own copy at once (decode included); see the module's notes.",
        "",
        "| measure | clip | gating off | gating on | goal |",
        "|---|---|---|---|---|",
    ]

    def add(label: str, key: str, goal: str = "", fmt: Callable[[Any], str] = str) -> None:
        for name, c in r["clips"].items():
            lines.append(f"| {label} | {name} | {fmt(c['off'].get(key))} | {fmt(c['on'].get(key))} | {goal} |")

    add("720p cameras sustained at 5 analysed fps", "cameras_at_5fps", "on >= 2x off (store day); on >= off (busy)")
    add("slowest camera's real-time factor, by cameras run at once", "factor_by_cameras")
    add("frames the detector ran on", "detector_frames")
    add("CPU seconds for the clip, one camera", "cpu_seconds")
    add("members announced", "arrivals", "each member once", lambda v: ", ".join(v or []) or "none")
    add("entries (people counted from their bodies)", "entries", "truth")
    add("exits", "exits")
    add("passers-by", "passers_by")
    add("unique visitors", "unique_visitors", "truth")
    add("embeddings per track, mean", "embeddings_per_track_mean", "<= 2.5 (busy)")
    for name, c in r["clips"].items():
        greet = {k: c[k]["greet"] for k in ("off", "on")}
        for k in ("off", "on"):
            if greet[k] is None:
                greet[k] = {"greet_seconds": {}, "latency_p50_ms": None, "latency_p95_ms": None, "named": []}
        members = sorted(set(greet["off"]["greet_seconds"]) | set(greet["on"]["greet_seconds"]))
        for m in members:
            off, on = greet["off"]["greet_seconds"].get(m), greet["on"]["greet_seconds"].get(m)
            lines.append(f"| time to greet {m}, s (clear view to PUBACK) | {name} | {off} | {on} | p95 <= 1.5 |")
        lines.append(
            f"| capture-to-publish latency p50 / p95, ms | {name} | {_ms(greet['off']['latency_p50_ms'])} / "
            f"{_ms(greet['off']['latency_p95_ms'])} | {_ms(greet['on']['latency_p50_ms'])} / "
            f"{_ms(greet['on']['latency_p95_ms'])} | p95 <= 300 |"
        )
    lines += ["", "Truth per clip:", ""]
    for name, c in r["clips"].items():
        t = c["truth"]
        lines.append(
            f"- {name} ({c['clip']}; people in view {c['in_view_share']:.0%} of it): {t['entries']} entries, "
            f"{t['unique_visitors']} unique visitors, arrivals {', '.join(t['arrivals'])}."
        )
    lines.append(END)
    return "\n".join(lines) + "\n"


def _ms(v: Any) -> str:
    return f"{v:.0f}" if isinstance(v, int | float) else "n/a"
