"""Playing the sample video through one camera's pipeline, as the edge does, at its analysis rate."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from storelens.edge.capture import FileReader


def play(pipeline: Any, video: Path, start: datetime, camera_id: str = "entrance", fps: float = 5.0) -> list[Any]:
    """Every event ``pipeline`` makes from ``video`` (frames stamped from ``start``), the last ones included."""
    reader = FileReader(camera_id, str(video), fps, start=start)
    events: list[Any] = []
    last = start
    while (frame := reader.next()) is not None:
        events += pipeline.process(frame)
        last = frame.ts
    return events + pipeline.finish(last)
