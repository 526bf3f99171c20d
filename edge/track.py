"""People tracked across frames with ByteTrack (the maintained ``trackers`` package), faces attached.

A person is a body the person detector found; a face found outside every body (a close view where the
body is out of frame, or a camera that runs no person detector) is a person of its own, its box the face's.
A face inside a body belongs to that person, so a person's decision, arrival and visitor token are theirs
whether their face was ever seen or not. A face seen where a tracked person's head just was, while their
body is hidden (behind a rack, another shopper), keeps that person's track: their body's box moves with
the face, as a low-confidence detection that can extend a track but never start one.
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
HEAD_AT = 0.15  # where a head is expected: this share of the body box's height below its top
HIDDEN_BODY_SCORE = 0.45  # below ByteTrack's activation threshold (0.5): continues a track, never starts one


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


def _heads(bodies: NDArray[np.floating], centres: NDArray[np.floating]) -> NDArray[np.bool_]:
    """(K, N) whether each face centre (K, 2) lies in the top part of each body box (N, 4)."""
    head_bottom = bodies[:, 1] + HEAD_SHARE * (bodies[:, 3] - bodies[:, 1])
    return np.asarray(
        (centres[:, None, 0] >= bodies[None, :, 0])
        & (centres[:, None, 0] <= bodies[None, :, 2])
        & (centres[:, None, 1] >= bodies[None, :, 1])
        & (centres[:, None, 1] <= head_bottom[None, :]),
        dtype=bool,
    )


def attach_faces(people: People, faces: Detections) -> NDArray[np.intp]:
    """(K,) the body each face belongs to (a row of ``people``), or -1 for a face outside every body.

    Each body takes at most one face, the one nearest where its head is expected (the top of the box, at
    its middle, relative to the box's width): a stranger's face passing in front of a body's upper half is
    not taken for that body's own; a face left over is a person of its own.

    Args:
        people: N bodies, boxes (N, 4).
        faces: K faces, boxes (K, 4).
    """
    owner = np.full(len(faces), -1, dtype=np.intp)
    if not len(people) or not len(faces):
        return owner
    b = people.boxes
    centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
    inside = _heads(b, centres)
    width = np.maximum(b[:, 2] - b[:, 0], 1.0)
    head = np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 1] + HEAD_AT * (b[:, 3] - b[:, 1])], axis=1)
    cost = np.hypot(centres[:, None, 0] - head[None, :, 0], centres[:, None, 1] - head[None, :, 1]) / width[None, :]
    pairs = sorted((float(cost[k, j]), k, j) for k, j in zip(*np.nonzero(inside), strict=True))
    bodies_taken: set[int] = set()
    for _, k, j in pairs:  # nearest pairs first (greedy: a few faces and bodies a frame)
        if owner[k] < 0 and j not in bodies_taken:
            owner[k] = j
            bodies_taken.add(int(j))
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
        self.lost_frames = max(1, round(lost_seconds * fps))
        self.frame_no = 0
        # per body track: its last body box, its face's centre then (or None), and the frame it was seen on;
        # evicted once the track could no longer be continued (lost_frames)
        self.bodies: dict[int, tuple[NDArray[np.float32], NDArray[np.float32] | None, int]] = {}
        self.tracker = ByteTrackTracker(
            lost_track_buffer=self.lost_frames,
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
        self.frame_no += 1
        owner = attach_faces(people, faces)
        hidden_boxes, hidden_faces, loose = self._hidden_bodies(faces, np.flatnonzero(owner < 0))
        # rows: the bodies found, the bodies hidden behind a face that continues them, faces of their own
        boxes = np.concatenate([people.boxes, hidden_boxes, faces.boxes[loose]]).astype(np.float32)
        scores = np.concatenate(
            [people.scores, np.full(len(hidden_boxes), HIDDEN_BODY_SCORE, np.float32), faces.scores[loose]]
        ).astype(np.float32)
        face_of_row = np.concatenate([np.full(len(people), -1, np.intp), hidden_faces, loose]).astype(np.intp)
        is_body = np.arange(len(boxes)) < len(people) + len(hidden_boxes)
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
        self._remember(ids, rows, boxes, is_body, face_of_row, faces)
        return Tracks(
            ids,
            boxes[rows],
            faces.select(face_of_row[rows][with_face]),
            ids[with_face],
            frame,
        )

    def _hidden_bodies(
        self, faces: Detections, loose: NDArray[np.intp]
    ) -> tuple[NDArray[np.float32], NDArray[np.intp], NDArray[np.intp]]:
        """Bodies that a loose face continues, the face of each, and the faces still loose.

        A loose face continues a recently tracked body when its centre lies where that body had its head and
        within one face width of where the body's own face last was (a stranger's face passing by does not):
        the body's last box, moved as the face moved since, stands for the hidden body.
        """
        if not len(loose) or not self.bodies:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.intp), loose
        tids = list(self.bodies)
        last = np.stack([self.bodies[t][0] for t in tids])
        centres = (faces.boxes[loose, :2] + faces.boxes[loose, 2:]) / 2
        inside = _heads(last, centres)
        boxes: list[NDArray[np.float32]] = []
        owners: list[int] = []
        still: list[int] = []
        taken: set[int] = set()
        width = faces.boxes[loose, 2] - faces.boxes[loose, 0]
        for i, k in enumerate(loose.tolist()):
            free = [
                j
                for j in np.flatnonzero(inside[i]).tolist()
                if j not in taken
                and (then := self.bodies[tids[j]][1]) is not None
                and float(np.hypot(*(centres[i] - then))) <= width[i]
            ]
            if not free:
                still.append(k)
                continue
            j = min(free, key=lambda j: float(np.hypot(*(centres[i] - (last[j, :2] + last[j, 2:]) / 2))))
            taken.add(j)
            body, face_then, _ = self.bodies[tids[j]]
            shift = centres[i] - face_then if face_then is not None else np.zeros(2, np.float32)
            boxes.append((body + np.tile(shift, 2)).astype(np.float32))  # face_then is set: filtered above
            owners.append(k)
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.intp), loose
        return np.stack(boxes), np.array(owners, np.intp), np.array(still, np.intp)

    def _remember(
        self,
        ids: NDArray[np.int64],
        rows: NDArray[np.intp],
        boxes: NDArray[np.float32],
        is_body: NDArray[np.bool_],
        face_of_row: NDArray[np.intp],
        faces: Detections,
    ) -> None:
        """Note each body track's box and face centre on this frame; forget those gone too long."""
        for tid, row in zip(ids.tolist(), rows.tolist(), strict=True):
            if not is_body[row]:
                continue
            k = int(face_of_row[row])
            centre = ((faces.boxes[k, :2] + faces.boxes[k, 2:]) / 2).astype(np.float32) if k >= 0 else None
            self.bodies[tid] = (boxes[row].copy(), centre, self.frame_no)
        for tid in [t for t, (_, _, seen) in self.bodies.items() if self.frame_no - seen > self.lost_frames]:
            del self.bodies[tid]
