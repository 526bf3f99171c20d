"""One camera's analysis.

Frame -> people (bodies) and faces in the ROI -> person tracks, faces attached -> good faces embedded,
paced -> quality-weighted evidence per person (edge/decide.py) -> arrivals, visitors and footfall events.

A camera that counts runs the person detector; one that recognises runs the face detector; one that
does both runs both. A camera that does not recognise (its role, or the privacy rules) never runs the face
detector: no face is processed at all.

Each track keeps only a few numbers and, until it ends, the embeddings of its best few faces: it is
evicted when it ends, so a 24/7 process does not grow.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from storelens.clock import iso
from storelens.config import CameraConfig, EdgeConfig
from storelens.edge.decide import Attempt, DecisionPolicy, TrackDecider, TrackEvidence
from storelens.edge.footfall import FootfallAggregator
from storelens.edge.motion import MotionGate
from storelens.edge.track import PersonTracker, roi_filter
from storelens.edge.visits import AnonymousRegistry, ArrivalCooldown, new_token
from storelens.edge_events import ArrivalEvent, FootfallEvent, VisitorEvent
from storelens.exposure import DarkFrameLift
from storelens.face_path import FacePath
from storelens.stage_messages import (
    Detections,
    FaceModels,
    Frame,
    Matcher,
    MatchPolicy,
    People,
    PersonFinder,
    TrackOutcomes,
    Tracks,
)

log = logging.getLogger(__name__)

PipelineEvent = ArrivalEvent | VisitorEvent | FootfallEvent
ATTEMPT_HISTORY = 1000  # embedding attempts of the last ended tracks, kept for statistics (bounded)


@dataclass
class TrackState:
    """What is kept about one track while it lives: times, whether it entered, and its evidence."""

    track_id: int
    first_ts: datetime
    last_ts: datetime
    evidence: TrackEvidence = field(default_factory=TrackEvidence)
    entered: bool = False

    @property
    def member(self) -> str | None:
        """The member this track was decided to be, or None."""
        return self.evidence.member


def decision_policy(edge: EdgeConfig, match: MatchPolicy, recognise: bool = True) -> DecisionPolicy:
    """The per-track decision settings of ``edge``, on the recogniser's similarity scale ``match``.

    ``recognise`` False (``recognition.enabled = false``, count-only) gives every track a budget of no
    embedding at all: it is tracked and counted, and ends as a person of its own.
    """
    return DecisionPolicy(
        min_quality=edge.min_face_quality,
        min_face_px=float(edge.min_embed_face_px),
        interval=timedelta(seconds=edge.embed_interval_seconds),
        better_by=edge.embed_better_by,
        doubt=match.threshold - (edge.doubt_margin if edge.doubt_margin is not None else 2 * match.strong_margin),
        max_attempts=edge.max_embeddings_per_track if recognise else 0,
        min_evidence=edge.min_evidence,
        strong=match.threshold + match.strong_margin,
        stranger_evidence=edge.stranger_evidence,
    )


class CameraPipeline:
    """Turns one camera's frames into events.

    Args:
        store_id: the store's id.
        camera: this camera's settings (id, region of interest).
        min_face_px: the camera's effective minimum face width (``Config.min_face_px_for``); applied only here.
        face_models: detector and embedder.
        gallery: the store's members.
        policy: when a track is embedded and named.
        tracker: this camera's person tracker.
        footfall: this camera's footfall (its entry line, its intervals): handed each frame's track outcomes once.
        cooldown: the store-wide arrival cooldown (shared by cameras).
        visitors: the store-wide anonymous registry (shared by cameras).
        track_lost: how long a track may go unseen before it ends.
        reidentify: whether strangers are re-identified (``PrivacyRules.visitor_reid``); False: a track that is
            not a member ends as nobody, its embeddings dropped, and no visitor event is sent.
        timing: called with (stage, seconds) for the detector and embedder (metrics).
        lift: lifts dark frames before anything reads them (``detection.lift_dark_below``); None: frames as they come.
        gate: motion gating (``edge.motion_gating``); None: the detectors run on every frame.
        people: the person detector, on a camera that counts; None: people are the faces found.
        find_faces: whether the face detector runs (False on a camera that does not recognise).
    """

    def __init__(
        self,
        store_id: str,
        camera: CameraConfig,
        min_face_px: int,
        face_models: FaceModels,
        gallery: Matcher,
        policy: DecisionPolicy,
        tracker: PersonTracker,
        footfall: FootfallAggregator,
        cooldown: ArrivalCooldown,
        visitors: AnonymousRegistry,
        track_lost: timedelta,
        reidentify: bool = True,
        timing: Callable[[str, float], None] | None = None,
        lift: DarkFrameLift | None = None,
        gate: MotionGate | None = None,
        people: PersonFinder | None = None,
        find_faces: bool = True,
    ) -> None:
        self.path = FacePath(face_models, lift or DarkFrameLift(0.0))  # the one face path: lift ... embed
        self.gate = gate
        self.people = people
        self.find_faces = find_faces
        self._found_last_look = False  # whether the detectors' last run found someone (motion gating)
        self.face_detections = 0  # faces the face detector returned, in total (a count-only camera: always 0)
        self.embedded = 0  # faces embedded, in total
        self.reidentify = reidentify
        self.timing = timing or (lambda stage, seconds: None)
        self.store_id = store_id
        self.camera = camera
        self.gallery = gallery
        self.cooldown = cooldown
        self.visitors = visitors
        self.min_face_px = min_face_px
        self.tracker = tracker
        self.footfall = footfall
        self.tracks: dict[int, TrackState] = {}
        self.lost = track_lost
        self.decider = TrackDecider(policy)
        self.attempts_per_track: deque[int] = deque(maxlen=ATTEMPT_HISTORY)  # for metrics and the benchmark
        self.recognises = policy.max_attempts > 0
        # Share of the last ended tracks (up to 1000) with a face good enough to decide (embedded at least once),
        # worked out when tracks end; None before the first ends, or on a camera that does not recognise.
        self.decidable_share: float | None = None

    @property
    def lift(self) -> DarkFrameLift:
        """The camera's dark-frame lift (its last brightness is the camera's metric)."""
        return self.path.lift

    def detect(self, frame: Frame) -> Detections:
        """Faces in the region of interest that are large enough (none on a camera that does not recognise)."""
        if not self.find_faces:
            return Detections.empty()
        t0 = time.perf_counter()
        faces = self.path.detect(frame)
        self.timing("detect", time.perf_counter() - t0)
        self.face_detections += len(faces)
        faces = faces.select(faces.widths >= self.min_face_px)
        return faces.select(roi_filter(faces.boxes, self.camera.roi))

    def detect_people(self, frame: Frame) -> People:
        """People whose box centre lies in the region of interest (none without a person detector)."""
        if self.people is None:
            return People.empty()
        t0 = time.perf_counter()
        people = self.people.detect(frame)
        self.timing("people", time.perf_counter() - t0)
        return people.select(roi_filter(people.boxes, self.camera.roi))

    def process(self, frame: Frame) -> list[PipelineEvent]:
        """Analyse one frame; returns the events it caused, in order."""
        frame = self.path.prepare(frame)  # a dark frame is lifted once, for the detector and the recogniser alike
        # The tracker confirms a person over consecutive detections: while the last look found one, keep looking,
        # or someone who stops moving in their first frame would wait for the next full detection.
        busy = bool(self.tracks) or self._found_last_look
        look = self.gate is None or self.gate.wants(frame, tracks_alive=busy)
        people = self.detect_people(frame) if look else People.empty()
        faces = self.detect(frame) if look else Detections.empty()
        if look:
            self._found_last_look = len(faces) + len(people) > 0
        tracks = self.tracker.update(frame, people, faces)
        for tid in tracks.ids:
            if int(tid) not in self.tracks:
                self.tracks[int(tid)] = TrackState(int(tid), frame.ts, frame.ts)
            self.tracks[int(tid)].last_ts = frame.ts
        events = self._recognise(tracks)
        arrivals = sum(isinstance(e, ArrivalEvent) for e in events)
        ended, ended_ids, who = self._end_tracks(frame.ts)
        outcomes = TrackOutcomes(frame.ts, tracks.ids, tracks.boxes, arrivals, ended_ids, who)
        entered, due = self.footfall.take(outcomes)  # the frame's one visit to the footfall
        for tid in entered:
            self.tracks[int(tid)].entered = True
        return events + ended + due

    def _recognise(self, tracks: Tracks) -> list[PipelineEvent]:
        frame = tracks.frame
        picked: list[int] = []
        qualities: list[float] = []
        for row, tid in enumerate(tracks.face_ids):
            state = self.tracks[int(tid)]
            if not self.decider.due(state.evidence, frame.ts):  # named, budget spent, or too soon: no pixels read
                continue
            q = self.path.quality_of(frame, tracks.faces, row)
            if self.decider.wants(state.evidence, frame.ts, q, float(tracks.faces.widths[row])):
                picked.append(row)
                qualities.append(q)
        if not picked:
            return []
        rows = np.array(picked)
        t0 = time.perf_counter()
        embeddings = self.path.embed(frame, tracks.faces.select(rows))
        self.embedded += len(embeddings)
        self.timing("embed", time.perf_counter() - t0)
        matches = self.gallery.match(embeddings)
        events: list[PipelineEvent] = []
        for i, row in enumerate(picked):
            state = self.tracks[int(tracks.face_ids[row])]
            attempt = Attempt(
                qualities[i],
                matches.member_ids[i],
                matches.best_ids[i],
                float(matches.similarities[i]),
                float(matches.runner_up[i]),
            )
            if self.reidentify:  # otherwise a stranger's embedding lives only for this frame's match
                state.evidence.keep_vector(qualities[i], embeddings.vectors[i])
            where = f"camera {self.camera.id} track {state.track_id}"
            member = self.decider.add(state.evidence, attempt, frame.ts, where)
            if member is None:
                continue
            self.gallery.touch(member, frame.ts)
            if self.gallery.is_staff(member):  # staff: never announced (and not counted, when the track ends)
                continue
            if self.cooldown.claim(member, frame.ts):
                events.append(
                    ArrivalEvent(
                        store_id=self.store_id,
                        camera_id=self.camera.id,
                        member_id=member,
                        similarity=round(state.evidence.best_similarity[member], 4),
                        track_id=state.track_id,
                        ts=iso(frame.ts),
                    )
                )
        return events

    def _end_tracks(
        self, now: datetime, all_tracks: bool = False
    ) -> tuple[list[PipelineEvent], NDArray[np.int64], tuple[str | None, ...]]:
        """End the tracks unseen for too long (or all); returns their events, their ids and who each was."""
        events: list[PipelineEvent] = []
        ended = [s for s in self.tracks.values() if all_tracks or now - s.last_ts > self.lost]
        people: list[str | None] = []
        for state in ended:
            del self.tracks[state.track_id]
            self.attempts_per_track.append(state.evidence.attempts)
            if state.member is not None and self.gallery.is_staff(state.member):
                people.append(None)  # staff: their entry is taken back
                continue
            if state.member is not None:
                people.append(self.visitors.member_token(state.member, state.last_ts))
                continue
            if not state.evidence.vectors:  # never seen well, or not re-identified: a person of their own
                people.append(new_token("track"))
                continue
            decision = self.visitors.resolve(np.stack([v for _, v in state.evidence.vectors]), state.last_ts)
            people.append(decision.anon_id)
            if decision.new_visit:
                events.append(
                    VisitorEvent(
                        store_id=self.store_id,
                        camera_id=self.camera.id,
                        anon_id=decision.anon_id,
                        track_id=state.track_id,
                        returning=decision.returning,
                        entered=state.entered,
                        ts=iso(state.last_ts),
                    )
                )
        if ended and self.recognises:  # worked out when tracks end, not on every frame
            self.decidable_share = sum(a > 0 for a in self.attempts_per_track) / len(self.attempts_per_track)
        return events, np.array([s.track_id for s in ended], np.int64), tuple(people)

    def finish(self, now: datetime) -> list[PipelineEvent]:
        """End of the source: end every track and publish every interval (the last one partial)."""
        events, ended_ids, people = self._end_tracks(now, all_tracks=True)
        outcomes = TrackOutcomes(now, np.zeros(0, np.int64), np.zeros((0, 4), np.float32), 0, ended_ids, people)
        _, due = self.footfall.take(outcomes, final=True)
        return events + due

    def flush(self, now: datetime) -> list[PipelineEvent]:
        """Intervals over by ``now`` while no frame comes (a live camera that is away)."""
        return list(self.footfall.due(now))  # a list of events of any kind (lists are invariant)
