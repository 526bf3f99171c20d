"""One camera's analysis.

Frame -> faces in the ROI -> tracks -> best faces embedded -> votes -> arrivals, visitors and
footfall events.

Each track keeps only a few numbers and, until it ends, the embeddings of its best few faces: it is
evicted when it ends, so a 24/7 process does not grow.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.align import align_faces, head_pose
from edge.events import ArrivalEvent, FootfallEvent, VisitorEvent
from edge.footfall import EntryCounter, FootfallAggregator
from edge.messages import Detections, Embeddings, Frame, Tracks
from edge.track import FaceTracker, roi_filter
from edge.visits import AnonymousRegistry, ArrivalCooldown, new_token
from gallery.gallery import Gallery
from gallery.records import iso
from models.loader import FaceModels
from storelens.config import CameraConfig, Config

log = logging.getLogger(__name__)

PipelineEvent = ArrivalEvent | VisitorEvent | FootfallEvent
MIN_EMBED_PX = 40  # faces narrower than this give unreliable descriptors; they are tracked, not embedded


@dataclass
class TrackState:
    """What is kept about one track while it lives."""

    track_id: int
    first_ts: datetime
    last_ts: datetime
    attempts: int = 0
    best_quality: float = 0.0
    last_attempt_index: int = -10
    votes: Counter[str] = field(default_factory=Counter)
    top_similarity: dict[str, float] = field(default_factory=dict)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)
    member: str | None = None
    entered: bool = False


def face_quality(frame: Frame, box: NDArray[np.float32], score: float, kps: NDArray[np.float32]) -> float:
    """A cheap quality score: confidence x size x frontalness x sharpness (higher is better)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    width = max(x2 - x1, 1)
    crop = frame.image[max(y1, 0) : max(y2, 1), max(x1, 0) : max(x2, 1)]
    sharp = 1.0
    if crop.size:
        grey = cv2.cvtColor(cv2.resize(crop, (64, 64)), cv2.COLOR_BGR2GRAY)
        sharp = min(float(cv2.Laplacian(grey, cv2.CV_32F).var()) / 200.0, 1.5)
    frontal = max(0.0, 1.0 - abs(head_pose(kps)[0]))
    return float(score * min(width / 120.0, 1.5) * frontal * max(sharp, 0.05))


class CameraPipeline:
    """Turns one camera's frames into events.

    Args:
        config: the whole configuration (store id, edge settings).
        camera: this camera's settings.
        face_models: detector and embedder.
        gallery: the store's members.
        cooldown: the store-wide arrival cooldown (shared by cameras).
        visitors: the store-wide anonymous registry (shared by cameras).
    """

    def __init__(
        self,
        config: Config,
        camera: CameraConfig,
        face_models: FaceModels,
        gallery: Gallery,
        cooldown: ArrivalCooldown,
        visitors: AnonymousRegistry,
        timing: Callable[[str, float], None] | None = None,
    ) -> None:
        self.timing = timing or (lambda stage, seconds: None)
        self.store_id = config.store.id
        self.camera = camera
        self.edge = config.edge
        self.fm = face_models
        self.gallery = gallery
        self.cooldown = cooldown
        self.visitors = visitors
        self.min_face_px = camera.min_face_px if camera.min_face_px is not None else config.detection.min_face_px
        self.tracker = FaceTracker(camera.analysis_fps, config.edge.track_lost_seconds)
        self.counter = EntryCounter(camera.entry_line) if camera.entry_line else None
        self.footfall = FootfallAggregator(self.store_id, camera.id, config.edge.footfall_interval_minutes)
        self.tracks: dict[int, TrackState] = {}
        self.lost = timedelta(seconds=config.edge.track_lost_seconds)

    def detect(self, frame: Frame) -> Detections:
        """Faces in the region of interest that are large enough."""
        t0 = time.perf_counter()
        faces = self.fm.detector.detect(frame)
        self.timing("detect", time.perf_counter() - t0)
        faces = faces.select(faces.widths >= self.min_face_px)
        return roi_filter(faces, self.camera.roi)

    def process(self, frame: Frame) -> list[PipelineEvent]:
        """Analyse one frame; returns the events it caused, in order."""
        events: list[PipelineEvent] = []
        tracks = self.tracker.update(frame, self.detect(frame))
        self.footfall.seen(frame.ts)
        for tid in tracks.ids:
            if int(tid) not in self.tracks:
                self.tracks[int(tid)] = TrackState(int(tid), frame.ts, frame.ts)
            self.tracks[int(tid)].last_ts = frame.ts
        if self.counter is not None:
            for tid in self.counter.trigger(tracks.ids, tracks.faces.boxes):
                state = self.tracks[int(tid)]
                if not state.entered:
                    state.entered = True
                    self.footfall.entry(state.track_id, frame.ts)
        events += self._recognise(tracks)
        events += self._end_tracks(frame.ts)
        events += self.footfall.due(frame.ts)
        return events

    def _recognise(self, tracks: Tracks) -> list[PipelineEvent]:
        frame = tracks.frame
        picked: list[int] = []
        for row, tid in enumerate(tracks.ids):
            state = self.tracks[int(tid)]
            if state.member is not None or state.attempts >= self.edge.max_embeddings_per_track:
                continue
            if float(tracks.faces.widths[row]) < MIN_EMBED_PX or frame.index - state.last_attempt_index < 1:
                continue
            q = face_quality(
                frame, tracks.faces.boxes[row], float(tracks.faces.scores[row]), tracks.faces.keypoints[row]
            )
            if state.attempts == 0 or q >= 1.15 * state.best_quality:
                state.best_quality = max(q, state.best_quality)
                picked.append(row)
        if not picked:
            return []
        rows = np.array(picked)
        t0 = time.perf_counter()
        chips = align_faces(frame.image, tracks.faces.keypoints[rows], self.fm.recogniser_spec)
        embeddings = Embeddings(self.fm.embedder.embed_chips(chips), self.fm.recogniser_spec.name)
        self.timing("embed", time.perf_counter() - t0)
        matches = self.gallery.match(embeddings)
        events: list[PipelineEvent] = []
        strong = self.gallery.policy.threshold + self.edge.strong_margin
        for i, row in enumerate(picked):
            state = self.tracks[int(tracks.ids[row])]
            state.attempts += 1
            state.last_attempt_index = frame.index
            state.vectors.append(embeddings.vectors[i])
            member, sim = matches.member_ids[i], float(matches.similarities[i])
            if member is None:
                continue
            state.votes[member] += 1
            state.top_similarity[member] = max(sim, state.top_similarity.get(member, -1.0))
            if state.votes[member] >= self.edge.min_votes or sim >= strong:
                state.member = member
                state.vectors.clear()  # a member's face is not kept as an anonymous embedding
                self.gallery.touch(member, frame.ts)
                if self.cooldown.claim(member, frame.ts):
                    events.append(ArrivalEvent(
                        store_id=self.store_id, camera_id=self.camera.id, member_id=member,
                        similarity=round(state.top_similarity[member], 4), track_id=state.track_id,
                        ts=iso(frame.ts),
                    ))  # fmt: skip
                    self.footfall.arrival(frame.ts)
        return events

    def _end_tracks(self, now: datetime, all_tracks: bool = False) -> list[PipelineEvent]:
        events: list[PipelineEvent] = []
        ended = [s for s in self.tracks.values() if all_tracks or now - s.last_ts > self.lost]
        for state in ended:
            del self.tracks[state.track_id]
            if state.member is not None:
                self.footfall.identified(state.track_id, self.visitors.member_token(state.member, state.last_ts))
                continue
            if not state.vectors:  # never seen well enough to recognise: a person of their own
                self.footfall.identified(state.track_id, new_token("track"))
                continue
            decision = self.visitors.resolve(np.stack(state.vectors), state.last_ts)
            self.footfall.identified(state.track_id, decision.anon_id)
            if decision.new_visit:
                events.append(VisitorEvent(
                    store_id=self.store_id, camera_id=self.camera.id, anon_id=decision.anon_id,
                    track_id=state.track_id, returning=decision.returning, entered=state.entered,
                    ts=iso(state.last_ts),
                ))  # fmt: skip
        return events

    def finish(self, now: datetime) -> list[PipelineEvent]:
        """End of the source: end every track and publish every interval (the last one partial)."""
        events = self._end_tracks(now, all_tracks=True)
        return events + self.footfall.due(now, final=True)
