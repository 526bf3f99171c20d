"""Counting people on a real clip: the store's own pipeline (count-only camera), crossings with their frames."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storelens.apps.edge import build_pipeline
from storelens.config import Config
from storelens.edge.capture import FileReader
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown
from storelens.gallery.factory import open_gallery
from storelens.stage_messages import FaceModels, PersonFinder

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Counted:
    """What the pipeline counted on one line of one clip."""

    crossings: list[tuple[int, str]]  # (frame, "in" or "out"), in order
    entries: int
    exits: int
    passers_by: int
    face_detections: int


def count_clip(video: Path, clip: dict[str, Any], line: dict[str, Any], face_models: FaceModels,
               people: PersonFinder, fps: float = 5.0) -> Counted:  # fmt: skip
    """Run a count-only camera over ``video`` with ``line``'s entry line."""
    camera = {"id": "c", "source": str(video), "entry_line": line["entry_line"], "role": "count", "analysis_fps": fps}
    config = Config.model_validate({"store": {"id": "s"}, "cameras": [camera]})
    with tempfile.TemporaryDirectory() as folder:
        gallery = open_gallery(config, face_models.recogniser_spec, Path(folder))
        visitors = AnonymousRegistry(12, 10, gallery.policy.visitor_match)
        pipeline = build_pipeline(config, config.cameras[0], face_models, gallery, ArrivalCooldown(30), visitors,
                                  people=people)  # fmt: skip
        crossings: list[tuple[int, str]] = []
        footfall = pipeline.footfall
        entry, leave = footfall.entry, footfall.exit

        def frame_of(ts: datetime) -> int:
            return round((ts - T0).total_seconds() * clip["fps"])

        def on_entry(track: int, ts: datetime) -> None:
            crossings.append((frame_of(ts), "in"))
            entry(track, ts)

        def on_exit(track: int, ts: datetime) -> None:
            crossings.append((frame_of(ts), "out"))
            leave(track, ts)

        footfall.entry, footfall.exit = on_entry, on_exit  # type: ignore[method-assign]
        reader = FileReader("c", str(video), fps, start=T0)
        events: list[Any] = []
        last = T0
        while (frame := reader.next()) is not None:
            events += pipeline.process(frame)
            last = frame.ts
        events += pipeline.finish(last)
        gallery.close()
    counts = [e for e in events if e.type == "footfall"]
    return Counted(
        crossings,
        sum(e.entries for e in counts),
        sum(e.exits for e in counts),
        sum(e.passers_by for e in counts),
        pipeline.face_detections,
    )
