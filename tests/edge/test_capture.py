"""Capture from a real RTSP server: frames, a server that stops and comes back, a dead camera."""

from __future__ import annotations

import threading
import time

import pytest

from storelens.edge.capture import FileReader, LiveReader, is_live
from storelens.errors import CaptureError
from tests.helpers.services import RtspServer, free_port


def test_live_reader_survives_server_restart(video, tmp_path) -> None:
    server = RtspServer(video, tmp_path).start()
    states: list[str] = []
    reader = LiveReader("door", server.url, lambda s, d: states.append(s), max_backoff=1.0)
    reader.start()
    try:
        first = reader.latest(timeout=15)
        assert first is not None and first.image.shape == (720, 1280, 3) and first.camera_id == "door"
        assert "online" in states
        server.stop()  # the camera drops mid-run
        deadline = time.monotonic() + 20
        while "reconnecting" not in states and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "reconnecting" in states
        server.start()  # and comes back on the same address
        deadline = time.monotonic() + 30
        while states[-1] != "online" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert states[-1] == "online"
        again = reader.latest(timeout=10)
        assert again is not None and again.index > first.index
        assert reader.stats.reconnects >= 1
    finally:
        reader.stop()
        server.stop()


def test_live_reader_keeps_only_the_newest_frame(video, tmp_path) -> None:
    server = RtspServer(video, tmp_path).start()
    reader = LiveReader("door", server.url, lambda s, d: None)
    reader.start()
    try:
        first = reader.latest(timeout=15)
        assert first is not None
        time.sleep(2.0)  # a slow analysis: about 50 frames arrive meanwhile
        frame = reader.latest(timeout=1)
        assert frame is not None and reader.stats.frames_dropped >= 20
        assert frame.index - first.index >= 20  # handed the newest frame, not the next one in line
    finally:
        reader.stop()
        server.stop()


def test_dead_camera_reports_and_does_not_block_others(video, tmp_path) -> None:
    states: list[str] = []
    dead = LiveReader("dead", f"rtsp://127.0.0.1:{free_port()}/cam", lambda s, d: states.append(s), max_backoff=0.5)
    dead.start()
    file_frames = []
    done = threading.Event()

    def read_file() -> None:
        reader = FileReader("door", str(video), 5.0)
        while (f := reader.next()) is not None:
            file_frames.append(f.index)
        done.set()

    threading.Thread(target=read_file, daemon=True).start()
    try:
        assert done.wait(60)
        assert len(file_frames) == 170 and file_frames[1] - file_frames[0] == 5  # 25 fps file at 5 fps
        assert "reconnecting" in states and "online" not in states
        assert dead.stats.reconnects >= 1
    finally:
        dead.stop()


@pytest.mark.parametrize(
    ("source", "live"),
    [("rtsp://cam/1", True), ("0", True), ("/videos/a.mp4", False), ("https://x/y.m3u8", True)],
)
def test_is_live(source: str, live: bool) -> None:
    assert is_live(source) is live


def test_missing_or_bad_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CaptureError, match="video file not found"):
        FileReader("c", str(tmp_path / "none.mp4"), 5)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(CaptureError, match="not a readable video"):
        FileReader("c", str(bad), 5)
