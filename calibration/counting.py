"""``storelens calibrate camera`` on a camera that counts: is it placed to count, and who shows a face.

The camera is watched for a stretch at its analysis rate with the store's own stages (the person detector,
the person tracker with faces attached, the entry line's counter). For every person who crosses the line it
notes whether their box touched the frame's edge when they crossed (a person cut off by the edge is counted
late or not at all: the line belongs where people cross inside the frame), and, on a camera that also
recognises, whether they showed a face good enough to decide who they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storelens.calibration.camera import looks
from storelens.config import CameraConfig
from storelens.edge.footfall import LineCounter
from storelens.edge.track import PersonTracker, roi_filter
from storelens.errors import CaptureError, ConfigError
from storelens.exposure import DarkFrameLift
from storelens.face_path import FacePath
from storelens.i18n import Translator
from storelens.stage_messages import Detections, PersonFinder

EDGE_SHARE = 0.02  # a box within 2 % of the frame's width or height from its border touches the edge
AT_EDGE_LIMIT = 0.25  # more than a quarter of the crossings at the edge: the camera is not placed to count


@dataclass(frozen=True)
class CountSurvey:
    """What a stretch of video says about counting at one camera.

    Attributes:
        frames: frames analysed.
        people: people (person tracks) seen.
        crossing: people who crossed the entry line, either way.
        at_edge: of those, people whose box touched the frame's edge when they crossed.
        with_face: of those, people who showed a decidable face (None: the camera looks for no face).
        ok: whether the camera is placed to count.
        verdict: one line for the installer.
    """

    frames: int
    people: int
    crossing: int
    at_edge: int
    with_face: int | None
    ok: bool
    verdict: str

    @property
    def face_share(self) -> float | None:
        """The share of the people crossing who showed a decidable face (None: no face looked for, or nobody)."""
        return None if self.with_face is None or not self.crossing else self.with_face / self.crossing


def count_survey(
    camera: CameraConfig,
    people: PersonFinder,
    faces: FacePath | None,
    lift: DarkFrameLift,
    min_embed_px: int,
    min_quality: float,
    seconds: float,
    at_seconds: float = 0.0,
    settle: int = 1,
    band: float = 0.0,
    tr: Translator | None = None,
) -> CountSurvey:
    """Watch ``seconds`` of the camera at its analysis rate and judge its counting.

    Raises:
        ConfigError: the camera has no entry line.
        CaptureError: the camera cannot be opened or gives no frame.
    """
    tr = tr or Translator()
    if camera.entry_line is None:
        raise ConfigError(f"camera {camera.id}: no entry_line, so nothing to count")
    tracker = PersonTracker(camera.analysis_fps, 1.5)
    counter = LineCounter(camera.entry_line, settle, band)
    seen: set[int] = set()
    decidable: set[int] = set()
    crossing: set[int] = set()
    at_edge: set[int] = set()
    frames = 0
    for raw in looks(camera, at_seconds, seconds, camera.analysis_fps):
        frames += 1
        frame = lift.lift(raw)
        w, h = frame.size
        bodies = people.detect(frame)
        bodies = bodies.select(roi_filter(bodies.boxes, camera.roi))
        found = faces.detect(frame) if faces is not None else Detections.empty()
        found = found.select(roi_filter(found.boxes, camera.roi))
        tracks = tracker.update(frame, bodies, found)
        seen.update(tracks.ids.tolist())
        for row, tid in enumerate(tracks.face_ids.tolist()):
            box = tracks.faces.boxes[row]
            quality = faces.quality_of(frame, tracks.faces, row) if faces is not None else 0.0
            if quality >= min_quality and float(box[2] - box[0]) >= min_embed_px:
                decidable.add(tid)
        came_in, went_out = counter.trigger(tracks.ids, tracks.boxes)
        margin = np.array([EDGE_SHARE * w, EDGE_SHARE * h, (1 - EDGE_SHARE) * w, (1 - EDGE_SHARE) * h])
        for tid in np.concatenate([came_in, went_out]).tolist():
            crossing.add(tid)
            box = tracks.boxes[tracks.ids.tolist().index(tid)]
            if box[0] <= margin[0] or box[1] <= margin[1] or box[2] >= margin[2] or box[3] >= margin[3]:
                at_edge.add(tid)
    if frames == 0:
        raise CaptureError(f"camera {camera.id}: no frame from {camera.source}")
    with_face = len(crossing & decidable) if faces is not None else None
    if not crossing:
        verdict = tr.gettext(
            "NOBODY CROSSED the entry line in {seconds} s ({people} people seen): ask someone to walk in while "
            "this runs, or move the line to where people walk",
            seconds=tr.number(seconds),
            people=len(seen),
        )
        return CountSurvey(frames, len(seen), 0, 0, with_face, False, verdict)
    if len(at_edge) > AT_EDGE_LIMIT * len(crossing):
        verdict = tr.gettext(
            "AT THE EDGE: {n} of {of} people crossed the line cut off by the frame's edge; move the line inwards "
            "or aim the camera so that people cross it inside the frame",
            n=len(at_edge),
            of=len(crossing),
        )
        return CountSurvey(frames, len(seen), len(crossing), len(at_edge), with_face, False, verdict)
    verdict = tr.gettext("PLACED TO COUNT: {n} people crossed the line inside the frame", n=len(crossing))
    return CountSurvey(frames, len(seen), len(crossing), len(at_edge), with_face, True, verdict)
