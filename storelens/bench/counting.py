"""Benchmark part 10: people counted on real footage against truth annotated by hand.

Each annotated line of each clip in ``sample_videos/real_clips.json`` (clips fetched from registry packages,
never committed) is watched by a count-only camera through the store's own pipeline at 5 analysed fps:
the person detector, the person tracker, the entry line's counter. Every counted crossing is matched to an
annotated one of the same direction within a second; the table says how many people and crossings each
figure rests on, what was counted, and the error.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storelens.apps.edge import build_pipeline
from storelens.config import Config
from storelens.edge.capture import FileReader
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.gallery.factory import open_gallery
from storelens.sample_videos.real_clips import clips, fetch_clip
from storelens.stage_messages import FaceModels, Frame, People, PersonFinder

START = "<!-- storelens-bench:counting:start -->"
END = "<!-- storelens-bench:counting:end -->"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Counted:
    """What the pipeline counted on one line of one clip.

    Attributes:
        crossings: (frame, "in" or "out") for each counted crossing, in order.
        entries: entries published.
        exits: exits published.
        passers_by: passers-by published.
        face_detections: faces the face detector returned (0 on a count-only camera).
        detect_ms: median milliseconds of the person detector per analysed frame.
    """

    crossings: list[tuple[int, str]]
    entries: int
    exits: int
    passers_by: int
    face_detections: int
    detect_ms: float


class _Timed:
    """The person detector, timed."""

    def __init__(self, inner: PersonFinder) -> None:
        self.inner, self.seconds = inner, list[float]()

    def detect(self, frame: Frame) -> People:
        t0 = time.perf_counter()
        found = self.inner.detect(frame)
        self.seconds.append(time.perf_counter() - t0)
        return found


def count_clip(
    video: Path, clip: dict[str, Any], line: dict[str, Any], fm: FaceModels, people: PersonFinder, fps: float = 5.0
) -> Counted:
    """Run a count-only camera over ``video`` with ``line``'s entry line; each crossing with its frame."""
    camera = {"id": "c", "source": str(video), "entry_line": line["entry_line"], "role": "count", "analysis_fps": fps}
    config = Config.model_validate({"store": {"id": "bench"}, "cameras": [camera]})
    timed = _Timed(people)
    events: list[Any] = []
    with tempfile.TemporaryDirectory() as folder:
        gallery = open_gallery(config, fm.recogniser_spec, Path(folder))
        try:
            visitors = AnonymousRegistry(12, 10, gallery.policy.visitor_match)
            pipeline = build_pipeline(
                config, config.cameras[0], fm, gallery, ArrivalCooldown(30), visitors, people=timed
            )
            reader = FileReader("c", str(video), fps, start=T0)
            last = T0
            while (frame := reader.next()) is not None:
                events += pipeline.process(frame)
                last = frame.ts
            events += pipeline.finish(last)
            crossings = [
                (round((ts - T0).total_seconds() * clip["fps"]), way) for ts, way in pipeline.footfall.crossings
            ]
        finally:
            gallery.close()
    counts = [e for e in events if e.type == "footfall"]
    return Counted(
        crossings,
        sum(e.entries for e in counts),
        sum(e.exits for e in counts),
        sum(e.passers_by for e in counts),
        pipeline.face_detections,
        round(1000 * statistics.median(timed.seconds), 1) if timed.seconds else 0.0,
    )


def matched(counted: list[tuple[int, str]], truth: list[dict[str, Any]], fps: float) -> int:
    """How many annotated crossings a counted one of the same direction matches within a second (each once)."""
    left = list(counted)
    found = 0
    for crossing in truth:
        near = [c for c in left if c[1] == crossing["direction"] and abs(c[0] - crossing["frame"]) <= fps]
        if near:
            left.remove(near[0])
            found += 1
    return found


def measure_counting(fm: FaceModels, people: PersonFinder, name: str) -> dict[str, Any]:
    """Part 10: every annotated line of every clip."""
    rows = []
    for clip in clips():
        video = fetch_clip(clip["name"])
        for line in clip["lines"]:
            counted = count_clip(video, clip, line, fm, people)
            truth = line["crossings"]
            want_in = sum(c["direction"] == "in" for c in truth)
            want_out = len(truth) - want_in
            rows.append(
                {
                    "clip": clip["name"],
                    "line": line["id"],
                    "frames": f"{line['annotated_frames'][0]}-{line['annotated_frames'][1]}",
                    "people": line["people"],
                    "crossings": len(truth),
                    "truth_in": want_in,
                    "truth_out": want_out,
                    "entries": counted.entries,
                    "exits": counted.exits,
                    "matched": matched(counted.crossings, truth, clip["fps"]),
                    "passers_by": counted.passers_by,
                    "face_detections": counted.face_detections,
                    "detect_ms": counted.detect_ms,
                }
            )
    return {"part": "counting", "detector": name, "lines": rows}


def _error(got: int, want: int) -> str:
    return "exact" if got == want else f"{(got - want) / max(want, 1):+.0%}"


def counting_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-10 section of docs/benchmarks.md."""
    lines = [
        START,
        f"## Part 10: people counted on real footage ({r['detector']})",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        "- Clips and truth: sample_videos/real_clips.json (each crossing's frame and direction, annotated by hand);",
        "  the clips are fetched from their registry packages by sample_videos/real_clips.py. A count-only camera,",
        "  5 analysed fps; a counted crossing matches an annotated one in the same direction within a second.",
        "",
        "| clip | line | frames | people | crossings (in / out) | counted in / out | matched | error in / out |"
        " passers-by | faces looked for | person detector, ms a frame |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["lines"]:
        lines.append(
            f"| {row['clip']} | {row['line']} | {row['frames']} | {row['people']} | {row['crossings']} "
            f"({row['truth_in']} / {row['truth_out']}) | {row['entries']} / {row['exits']} | "
            f"{row['matched']} of {row['crossings']} | {_error(row['entries'], row['truth_in'])} / "
            f"{_error(row['exits'], row['truth_out'])} | {row['passers_by']} | {row['face_detections']} | "
            f"{row['detect_ms']} |"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"
