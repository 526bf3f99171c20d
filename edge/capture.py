"""Camera capture with OpenCV (FFmpeg): RTSP URLs, video files, local cameras.

A live source (RTSP, local camera) is read by its own thread that keeps only the newest frame, so a
slow analysis never builds up latency, and that reconnects with exponential backoff when the camera
drops. A file source is read frame by frame (nothing dropped); every k-th frame is analysed so that
the analysis rate matches the configured one in video time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from storelens.errors import CaptureError
from storelens.stage_messages import Frame

log = logging.getLogger(__name__)

# OpenCV and FFmpeg print their own warnings straight to stderr, which breaks JSON-lines logs and can
# quote a camera URL: errors only (FFmpeg's level is read when the first capture opens).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # a failed open is reported by our own error

StatusHook = Callable[[str, str], None]  # (state, detail)


def is_live(source: str) -> bool:
    """RTSP/HTTP streams and local camera indexes are live; anything else is a file."""
    return source.isdigit() or source.split("://", 1)[0].lower() in ("rtsp", "rtsps", "http", "https", "rtmp")


def open_capture(source: str) -> cv2.VideoCapture:
    """An OpenCV capture for a source (FFmpeg backend; TCP for RTSP, with open/read timeouts)."""
    if source.isdigit():
        return cv2.VideoCapture(int(source))
    if source.lower().startswith("rtsp"):
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG)


@dataclass
class ReaderStats:
    """Counters for health and metrics."""

    frames_read: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    last_frame_monotonic: float = 0.0


class LiveReader:
    """Reads a live source in a thread, keeping only the newest frame.

    Args:
        camera_id: camera id (for frames and logs).
        source: RTSP URL or local camera index.
        status: called with ("online" | "reconnecting", detail) on changes.
        max_backoff: longest wait between reconnection attempts, seconds.
    """

    def __init__(self, camera_id: str, source: str, status: StatusHook, max_backoff: float = 30.0) -> None:
        self.camera_id, self.source = camera_id, source
        self.status = status
        self.max_backoff = max_backoff
        self.stats = ReaderStats()
        self._frame: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{camera_id}", daemon=True)
        self._index = 0

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.5
        state = ""
        cap: cv2.VideoCapture | None = None
        try:
            while not self._stop.is_set():
                cap = open_capture(self.source)
                if not cap.isOpened():
                    cap.release()
                    if state != "reconnecting":
                        state = "reconnecting"
                        self.status(state, "cannot open the stream")
                    self.stats.reconnects += 1
                    if self._stop.wait(backoff):
                        break
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                while not self._stop.is_set():
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    if state != "online":
                        state = "online"
                        self.status(state, "")
                        backoff = 0.5
                    self._publish(image)
                cap.release()
                cap = None
                if self._stop.is_set():
                    break
                state = "reconnecting"
                self.status(state, "stream ended or stalled")
                self.stats.reconnects += 1
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        except Exception:  # the process never dies of a camera
            log.exception("camera %s reader failed; it will not be read again", self.camera_id)
            self.status("reconnecting", "reader failed")
        finally:
            if cap is not None:
                cap.release()

    def _publish(self, image: np.ndarray) -> None:
        with self._cond:
            if self._frame is not None:
                self.stats.frames_dropped += 1
            self._frame = Frame(np.ascontiguousarray(image), self.camera_id, self._index, datetime.now(UTC))
            self._index += 1
            self.stats.frames_read += 1
            self.stats.last_frame_monotonic = time.monotonic()
            self._cond.notify_all()

    def latest(self, timeout: float) -> Frame | None:
        """The newest frame not handed out yet, waiting up to ``timeout`` seconds; None when none came."""
        with self._cond:
            if self._frame is None:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame

    def stop(self) -> None:
        """Stop reading and wait for the thread."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=10)


class FileReader:
    """Reads a video file frame by frame, yielding every k-th frame for analysis.

    Args:
        camera_id: camera id.
        path: video file.
        analysis_fps: analysed frames per second of video time.
        start: wall-clock time of the file's first frame (timestamps follow video time from there).
        realtime: deliver frames at the video's own pace instead of as fast as they decode.

    Raises:
        CaptureError: the file is missing or not a readable video.
    """

    def __init__(
        self, camera_id: str, path: str, analysis_fps: float, start: datetime | None = None, realtime: bool = False
    ) -> None:
        if not Path(path).is_file():
            raise CaptureError(f"{path}: video file not found (camera {camera_id})")
        self.cap = open_capture(path)
        if not self.cap.isOpened():
            raise CaptureError(f"{path}: not a readable video (camera {camera_id})")
        self.camera_id = camera_id
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.video_fps = float(fps) if fps and fps > 0 else 25.0
        self.step = max(1, round(self.video_fps / analysis_fps))
        self.start = start or datetime.now(UTC)
        self.stats = ReaderStats()
        self.index = 0
        self.realtime = realtime
        self._t0 = time.monotonic()

    def next(self) -> Frame | None:
        """The next frame to analyse, or None at end of file."""
        while True:
            i = self.index
            # Every frame is decoded (the codec needs it), but only analysed ones are converted to BGR and copied out.
            ok = self.cap.grab()
            image = self.cap.retrieve()[1] if ok and i % self.step == 0 else None
            if not ok or (i % self.step == 0 and image is None):
                self.cap.release()
                return None
            self.index += 1
            self.stats.frames_read += 1
            if image is not None:
                if self.realtime:  # play at the video's own pace, as a live camera would deliver it
                    time.sleep(max(0.0, self._t0 + i / self.video_fps - time.monotonic()))
                self.stats.last_frame_monotonic = time.monotonic()
                ts = self.start + timedelta(seconds=i / self.video_fps)
                return Frame(np.ascontiguousarray(image), self.camera_id, i, ts)

    def stop(self) -> None:
        """Release the file."""
        self.cap.release()
