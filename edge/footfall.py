"""Footfall: entries and exits through the camera's entry line (supervision's LineZone), passers-by, per interval."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import supervision as sv
from numpy.typing import NDArray

from storelens.clock import floor_interval, iso
from storelens.config import EntryLine
from storelens.edge_events import FootfallEvent
from storelens.stage_messages import TrackOutcomes

CROSSING_HISTORY = 1000


class LineCounter:
    """Counts tracks that cross the entry line, towards its inside point (entries) or away (exits).

    Two of supervision's ``LineZone`` run ``band`` pixels either side of the line: a crossing counts when
    a track has passed both, in the same direction, each for ``settle`` frames. A person standing on the
    line, their box jittering across it, crosses neither edge of the band and is counted once, when they
    finally walk through.

    Args:
        line: the line and a point on the store side.
        settle: frames on the new side before a zone's crossing counts (``minimum_crossing_threshold``).
        band: half the width of the band around the line, in pixels.
    """

    def __init__(self, line: EntryLine, settle: int = 1, band: float = 0.0) -> None:
        self.line = line
        (x1, y1), (x2, y2) = line.start, line.end
        length = float(np.hypot(x2 - x1, y2 - y1))
        # the unit normal towards the store side (outside(): which side of the line a box is on)
        self.inward = np.array(
            (-(y2 - y1) / length, (x2 - x1) / length)
            if line.inside_side() > 0
            else ((y2 - y1) / length, -(x2 - x1) / length)
        )
        nx, ny = self.inward
        self.zones = [
            sv.LineZone(
                sv.Point(x1 + k * band * nx, y1 + k * band * ny),
                sv.Point(x2 + k * band * nx, y2 + k * band * ny),
                triggering_anchors=[sv.Position.CENTER],
                minimum_crossing_threshold=settle,
            )
            for k in (-1, 1)  # the street edge of the band, then the store edge
        ]
        # LineZone's "out" is a crossing towards the right-hand side of start->end (image y points down),
        # i.e. towards the side where EntryLine.inside_side() is positive.
        self.entering_is_out = line.inside_side() > 0
        self.passed: dict[int, tuple[str, str]] = {}  # per track: its last crossing of each edge (evicted with it)

    def trigger(
        self, ids: NDArray[np.int64], boxes: NDArray[np.float32]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Track ids (of ``ids``, with boxes (N, 4)) that entered, and that exited, in this frame."""
        if len(ids) == 0:
            for zone in self.zones:
                zone.trigger(sv.Detections.empty())  # ages the crossing history of tracks no longer seen
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        dets = sv.Detections(xyxy=boxes.astype(np.float64), tracker_id=ids.astype(int))
        moved: dict[int, str] = {}  # tracks that crossed an edge of the band on this frame, and which way
        for edge, zone in enumerate(self.zones):
            crossed_in, crossed_out = zone.trigger(dets)
            went_in, went_out = (crossed_out, crossed_in) if self.entering_is_out else (crossed_in, crossed_out)
            for tid, inward, outward in zip(ids.tolist(), went_in.tolist(), went_out.tolist(), strict=True):
                if inward or outward:
                    way = "in" if inward else "out"
                    last = self.passed.get(tid, ("", ""))
                    self.passed[tid] = (way, last[1]) if edge == 0 else (last[0], way)
                    moved[tid] = way
        # through the band: both edges last crossed the same way, one of them on this frame
        entered = [t for t, way in moved.items() if way == "in" and self.passed[t] == ("in", "in")]
        exited = [t for t, way in moved.items() if way == "out" and self.passed[t] == ("out", "out")]
        return np.array(entered, np.int64), np.array(exited, np.int64)

    def forget(self, track_id: int) -> None:
        """Drop an ended track's state."""
        self.passed.pop(track_id, None)

    def outside(self, boxes: NDArray[np.float32]) -> NDArray[np.bool_]:
        """(N,) whether each box's centre lies on the street side of the line (the side away from ``inside``)."""
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        return np.asarray((centres - np.asarray(self.line.start)) @ self.inward < 0, dtype=bool)


@dataclass
class _Interval:
    start: datetime
    entries: int = 0
    exits: int = 0
    passers_by: int = 0
    arrivals: int = 0
    staff: int = 0
    people: set[str] = field(default_factory=set)
    pending: set[int] = field(default_factory=set)  # tracks that entered here and are still being decided
    leaving: set[int] = field(default_factory=set)  # tracks that exited here and are still being decided


class FootfallAggregator:
    """Entries, exits, passers-by, unique visitors (people who entered) and VIP arrivals per interval of one camera.

    A passer-by is a person seen on the street side of the line whose track ended without crossing it.

    The one consumer of each frame's :class:`TrackOutcomes` (:meth:`take`): the pipeline hands it what the
    frame did to the tracks, once per frame. An interval is published once it is over and every track that
    entered during it has ended (so each entering person is known as a member or an anonymous visitor).

    Args:
        store_id: store id.
        camera_id: camera id.
        minutes: interval length.
        unique: whether people are re-identified (``PrivacyRules.visitor_reid``); False: unique visitors are
            reported unavailable, and no token is kept.
        line: the camera's entry line; None: no entries are counted.
        settle: frames on the new side before a crossing counts (see :class:`LineCounter`).
        band: half the width of the band around the line that a crossing must pass (see :class:`LineCounter`).
    """

    def __init__(
        self,
        store_id: str,
        camera_id: str,
        minutes: int,
        unique: bool = True,
        line: EntryLine | None = None,
        settle: int = 1,
        band: float = 0.0,
    ) -> None:
        self.counter = LineCounter(line, settle, band) if line is not None else None
        # the last crossings, (time, "in" or "out"), for the benchmark (bounded)
        self.crossings: deque[tuple[datetime, str]] = deque(maxlen=CROSSING_HISTORY)
        # Per-track state, each evicted when the track ends: entered, exited, seen on the street side.
        self.inside: set[int] = set()
        self.exited: set[int] = set()
        self.outside_seen: set[int] = set()
        self.store_id, self.camera_id = store_id, camera_id
        self.unique = unique
        self.length = timedelta(minutes=minutes)
        self.minutes = minutes
        self.open: dict[datetime, _Interval] = {}
        self.first: datetime | None = None

    def _at(self, ts: datetime) -> _Interval:
        start = floor_interval(ts, self.minutes)
        if start not in self.open:
            self.open[start] = _Interval(start)
        return self.open[start]

    def seen(self, ts: datetime) -> None:
        """Note that the camera was analysing at ``ts`` (so empty intervals are reported too)."""
        if self.first is None:
            self.first = ts
        self._at(ts)

    def entry(self, track_id: int, ts: datetime) -> None:
        """A track entered."""
        interval = self._at(ts)
        interval.entries += 1
        interval.pending.add(track_id)
        self.crossings.append((ts, "in"))

    def exit(self, track_id: int, ts: datetime) -> None:
        """A track exited."""
        interval = self._at(ts)
        interval.exits += 1
        interval.leaving.add(track_id)
        self.crossings.append((ts, "out"))

    def arrival(self, ts: datetime) -> None:
        """A VIP arrival was announced."""
        self._at(ts).arrivals += 1

    def identified(self, track_id: int, person: str) -> None:
        """A track ended as ``person``: an opaque visitor token (see ``AnonymousRegistry.token``)."""
        for interval in self.open.values():
            interval.leaving.discard(track_id)
            if track_id in interval.pending:
                interval.pending.discard(track_id)
                if self.unique:
                    interval.people.add(person)

    def staff(self, track_id: int) -> None:
        """A track ended as someone on the staff list: their entry and exit are taken back, and no token is kept."""
        for interval in self.open.values():
            if track_id in interval.leaving:
                interval.leaving.discard(track_id)
                interval.exits -= 1
            if track_id in interval.pending:
                interval.pending.discard(track_id)
                interval.entries -= 1
                interval.staff += 1

    def take(self, outcomes: TrackOutcomes, final: bool = False) -> tuple[NDArray[np.int64], list[FootfallEvent]]:
        """One frame's outcomes, in the order they happened: seen, crossings, arrivals, ended tracks.

        Args:
            outcomes: what the frame did to the tracks.
            final: the source ended: every interval is published, the last one partial.

        Returns:
            The track ids (K,) that entered on this frame (each track enters once, and exits once), and the
            intervals now due.
        """
        ts = outcomes.ts
        entered = np.zeros(0, np.int64)
        if not final:
            self.seen(ts)
        if self.counter is not None and not final:
            crossed_in, crossed_out = self.counter.trigger(outcomes.ids, outcomes.boxes)
            entered = np.array([t for t in crossed_in.tolist() if t not in self.inside], np.int64)
            for track_id in entered.tolist():
                self.inside.add(track_id)
                self.entry(track_id, ts)
            for track_id in crossed_out.tolist():
                if track_id not in self.exited:
                    self.exited.add(track_id)
                    self.exit(track_id, ts)
            if len(outcomes.ids):
                self.outside_seen.update(outcomes.ids[self.counter.outside(outcomes.boxes)].tolist())
        for _ in range(outcomes.arrivals):
            self.arrival(ts)
        for track_id, person in zip(outcomes.ended.tolist(), outcomes.people, strict=True):
            crossed = track_id in self.inside or track_id in self.exited
            if not crossed and track_id in self.outside_seen and person is not None:
                self._at(ts).passers_by += 1
            self.inside.discard(track_id)
            self.exited.discard(track_id)
            self.outside_seen.discard(track_id)
            if self.counter is not None:
                self.counter.forget(track_id)
            if person is None:
                self.staff(track_id)
            else:
                self.identified(track_id, person)
        return entered, self.due(ts, final)

    def due(self, now: datetime, final: bool = False) -> list[FootfallEvent]:
        """Events for intervals that are complete (all of them, and the last one partial, when ``final``)."""
        out = []
        for start in sorted(self.open):
            interval = self.open[start]
            end = start + self.length
            over = end <= now
            if not final and not (over and not interval.pending and not interval.leaving):
                continue
            partial = final and not over
            out.append(
                FootfallEvent(
                    store_id=self.store_id,
                    camera_id=self.camera_id,
                    interval_start=iso(start),
                    interval_end=iso(now if partial else end),
                    entries=interval.entries,
                    exits=interval.exits,
                    passers_by=interval.passers_by,
                    unique_visitors=len(interval.people) + len(interval.pending) if self.unique else 0,
                    vip_arrivals=interval.arrivals,
                    staff_excluded=interval.staff,
                    partial=partial,
                    visitor_tokens=tuple(sorted(interval.people)),
                    unique_visitors_available=self.unique,
                )
            )
            del self.open[start]
        return out
