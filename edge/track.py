"""People tracked across frames with ByteTrack (the maintained ``trackers`` package), faces attached.

A person is a body the person detector found; a face found outside every body (a close view where the
body is out of frame, or a camera that runs no person detector) is a person of its own, its box the face's.
A face inside a body belongs to that person, so a person's decision, arrival and visitor token are theirs
whether their face was ever seen or not.
"""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv
from numpy.typing import NDArray
from trackers import ByteTrackTracker

from storelens.stage_messages import Detections, Frame, People, Tracks

# A face belongs to a body when its centre lies in the body's box, in its top half (the head is there
# whether the person stands or walks); of several such bodies, the one whose centre line is nearest.
HEAD_SHARE = 0.5


def roi_filter(boxes: NDArray[np.float32], roi: list[tuple[float, float]] | None) -> NDArray[np.bool_]:
    """(N,) whether each box's centre lies inside the polygon (all when ``roi`` is None).

    Args:
        boxes: (N, 4) x1, y1, x2, y2.
        roi: the region's corners, or None.
    """
    if roi is None or len(boxes) == 0:
        return np.ones(len(boxes), dtype=bool)
    poly = np.asarray(roi, dtype=np.float32).reshape(-1, 1, 2)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in centres], dtype=bool)


def attach_faces(people: People, faces: Detections) -> NDArray[np.intp]:
    """(K,) the body each face belongs to (a row of ``people``), or -1 for a face outside every body.

    Each body takes at most one face: of two faces in one body, the higher-scoring keeps it and the other
    is a person of its own.

    Args:
        people: N bodies, boxes (N, 4).
        faces: K faces, boxes (K, 4), scores (K,).
    """
    owner = np.full(len(faces), -1, dtype=np.intp)
    if not len(people) or not len(faces):
        return owner
    b = people.boxes
    centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
    head_bottom = b[:, 1] + HEAD_SHARE * (b[:, 3] - b[:, 1])
    inside = (
        (centres[:, None, 0] >= b[None, :, 0])
        & (centres[:, None, 0] <= b[None, :, 2])
        & (centres[:, None, 1] >= b[None, :, 1])
        & (centres[:, None, 1] <= head_bottom[None, :])
    )
    off_centre = np.abs(centres[:, None, 0] - (b[None, :, 0] + b[None, :, 2]) / 2)
    taken: set[int] = set()
    for k in np.argsort(-faces.scores, kind="stable"):
        candidates = [int(j) for j in np.flatnonzero(inside[k]) if int(j) not in taken]
        if candidates:
            best = min(candidates, key=lambda j: float(off_centre[k, j]))
            owner[k] = best
            taken.add(best)
    return owner


class PersonTracker:
    """Gives each person a track id that persists across frames, and attaches faces to them.

    Args:
        fps: analysed frames per second.
        lost_seconds: how long a track survives without a detection.
        confirm_frames: consecutive detections before a track is confirmed (a flicker of the detector
            is not a person).
    """

    def __init__(self, fps: float, lost_seconds: float, confirm_frames: int = 1) -> None:
        self.tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(lost_seconds * fps)),
            frame_rate=fps,
            track_activation_threshold=0.5,
            minimum_consecutive_frames=confirm_frames,
            minimum_iou_threshold=0.05,
            high_conf_det_threshold=0.6,
        )

    def update(self, frame: Frame, people: People, faces: Detections) -> Tracks:
        """Track ids for this frame's people; people not yet confirmed as a track are left out.

        Args:
            frame: the frame.
            people: bodies found (none on a camera that runs no person detector).
            faces: faces found (none on a camera that recognises nobody).
        """
        owner = attach_faces(people, faces)
        loose = np.flatnonzero(owner < 0)  # faces outside every body: people of their own
        boxes = np.concatenate([people.boxes, faces.boxes[loose]]).astype(np.float32)
        scores = np.concatenate([people.scores, faces.scores[loose]]).astype(np.float32)
        face_of_row = np.concatenate([np.full(len(people), -1, np.intp), loose]).astype(np.intp)
        for k, row in enumerate(owner):
            if row >= 0:
                face_of_row[row] = k
        if len(boxes) == 0:
            dets = sv.Detections.empty()
        else:
            dets = sv.Detections(
                xyxy=boxes.astype(np.float64),
                confidence=scores.astype(np.float64),
                data={"row": np.arange(len(boxes))},
            )
        out = self.tracker.update(dets)
        if len(out) == 0 or out.tracker_id is None:
            return Tracks.empty(frame)
        ids = np.asarray(out.tracker_id, dtype=np.int64)
        rows = np.asarray(out.data["row"], dtype=np.intp)
        keep = ids >= 0
        ids, rows = ids[keep], rows[keep]
        with_face = face_of_row[rows] >= 0
        return Tracks(
            ids,
            boxes[rows],
            faces.select(face_of_row[rows][with_face]),
            ids[with_face],
            frame,
        )
