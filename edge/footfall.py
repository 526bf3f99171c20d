"""Footfall: entries through the camera's entry line (supervision's LineZone) and per-interval counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import supervision as sv
from numpy.typing import NDArray

from storelens.clock import floor_interval, iso
from storelens.config import EntryLine
from storelens.edge_events import FootfallEvent
from storelens.stage_messages import TrackOutcomes


class EntryCounter:
    """Counts tracks that cross the entry line towards its inside point.

    Args:
        line: the line and a point on the store side.
    """

    def __init__(self, line: EntryLine) -> None:
        self.zone = sv.LineZone(sv.Point(*line.start), sv.Point(*line.end), triggering_anchors=[sv.Position.CENTER])
        # LineZone's "out" is a crossing towards the right-hand side of start->end (image y points down),
        # i.e. towards the side where EntryLine.inside_side() is positive.
        self.entering_is_out = line.inside_side() > 0

    def trigger(self, ids: NDArray[np.int64], boxes: NDArray[np.float32]) -> NDArray[np.int64]:
        """Track ids (of ``ids``, with boxes (N, 4)) that entered in this frame."""
        if len(ids) == 0:
            return np.zeros(0, np.int64)
        dets = sv.Detections(xyxy=boxes.astype(np.float64), tracker_id=ids.astype(int))
        crossed_in, crossed_out = self.zone.trigger(dets)
        entered = crossed_out if self.entering_is_out else crossed_in
        return ids[np.asarray(entered, dtype=bool)]


@dataclass
class _Interval:
    start: datetime
    entries: int = 0
    arrivals: int = 0
    staff: int = 0
    people: set[str] = field(default_factory=set)
    pending: set[int] = field(default_factory=set)  # tracks that entered here and are still being decided


class FootfallAggregator:
    """Entries, unique visitors (people who entered) and VIP arrivals per interval of one camera.

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
    """

    def __init__(
        self, store_id: str, camera_id: str, minutes: int, unique: bool = True, line: EntryLine | None = None
    ) -> None:
        self.counter = EntryCounter(line) if line is not None else None
        self.inside: set[int] = set()  # tracks that have entered, until they end (evicted then)
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

    def arrival(self, ts: datetime) -> None:
        """A VIP arrival was announced."""
        self._at(ts).arrivals += 1

    def identified(self, track_id: int, person: str) -> None:
        """A track ended as ``person``: an opaque visitor token (see ``AnonymousRegistry.token``)."""
        for interval in self.open.values():
            if track_id in interval.pending:
                interval.pending.discard(track_id)
                if self.unique:
                    interval.people.add(person)

    def staff(self, track_id: int) -> None:
        """A track ended as someone on the staff list: their entry is taken back, and no token is kept."""
        for interval in self.open.values():
            if track_id in interval.pending:
                interval.pending.discard(track_id)
                interval.entries -= 1
                interval.staff += 1

    def take(self, outcomes: TrackOutcomes, final: bool = False) -> tuple[NDArray[np.int64], list[FootfallEvent]]:
        """One frame's outcomes, in the order they happened: seen, entries, arrivals, ended tracks.

        Args:
            outcomes: what the frame did to the tracks.
            final: the source ended: every interval is published, the last one partial.

        Returns:
            The track ids (K,) that entered on this frame (each track enters once), and the intervals now due.
        """
        ts = outcomes.ts
        entered = np.zeros(0, np.int64)
        if not final:
            self.seen(ts)
        if self.counter is not None and len(outcomes.ids):
            crossed = self.counter.trigger(outcomes.ids, outcomes.boxes)
            entered = np.array([t for t in crossed if int(t) not in self.inside], np.int64)
            for track_id in entered:
                self.inside.add(int(track_id))
                self.entry(int(track_id), ts)
        for _ in range(outcomes.arrivals):
            self.arrival(ts)
        for track_id, person in zip(outcomes.ended.tolist(), outcomes.people, strict=True):
            self.inside.discard(track_id)
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
            if not final and not (over and not interval.pending):
                continue
            partial = final and not over
            out.append(
                FootfallEvent(
                    store_id=self.store_id,
                    camera_id=self.camera_id,
                    interval_start=iso(start),
                    interval_end=iso(now if partial else end),
                    entries=interval.entries,
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
