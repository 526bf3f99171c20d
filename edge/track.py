"""Face tracking across frames with ByteTrack (the maintained ``trackers`` package), and the ROI filter."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from storelens.stage_messages import Detections, Frame, Tracks


def roi_filter(faces: Detections, roi: list[tuple[float, float]] | None) -> Detections:
    """Keep faces whose box centre lies inside the polygon (all when ``roi`` is None)."""
    if roi is None or len(faces) == 0:
        return faces
    poly = np.asarray(roi, dtype=np.float32).reshape(-1, 1, 2)
    centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
    keep = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in centres], dtype=bool)
    return faces.select(keep)


class FaceTracker:
    """Gives each face a track id that persists across frames.

    Args:
        fps: analysed frames per second.
        lost_seconds: how long a track survives without a detection.
    """

    def __init__(self, fps: float, lost_seconds: float) -> None:
        self.tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(lost_seconds * fps)),
            frame_rate=fps,
            track_activation_threshold=0.5,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=0.05,
            high_conf_det_threshold=0.6,
        )

    def update(self, frame: Frame, faces: Detections) -> Tracks:
        """Track ids for this frame's faces; faces not yet confirmed as a track are left out."""
        if len(faces) == 0:
            dets = sv.Detections.empty()
        else:
            dets = sv.Detections(
                xyxy=faces.boxes.astype(np.float64),
                confidence=faces.scores.astype(np.float64),
                data={"row": np.arange(len(faces))},
            )
        out = self.tracker.update(dets)
        if len(out) == 0 or out.tracker_id is None:
            return Tracks(np.zeros(0, np.int64), Detections.empty(), frame)
        ids = np.asarray(out.tracker_id, dtype=np.int64)
        rows = np.asarray(out.data["row"], dtype=np.intp)
        keep = ids >= 0
        return Tracks(ids[keep], faces.select(rows[keep]), frame)
