"""Files written whole or not at all, by several processes at once (two demos, two test workers)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from storelens.atomic import download_dir, one_at_a_time, replacing


def _write(target: str, size: int, tag: int) -> None:
    with replacing(Path(target)) as tmp, tmp.open("wb") as fh:
        for _ in range(size // 4096):
            fh.write(bytes([tag]) * 4096)
            time.sleep(0)  # let the other writer interleave


def _locked_append(lock: str, log: str, tag: str) -> None:
    with one_at_a_time(Path(lock)), open(log, "a") as fh:
        fh.write(f"{tag}-start\n")
        fh.flush()
        time.sleep(0.3)
        fh.write(f"{tag}-end\n")


def test_two_processes_writing_the_same_file_both_succeed_and_it_is_whole(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "video.mp4"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write, args=(str(target), 1 << 20, tag)) for tag in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    data = target.read_bytes()
    assert len(data) == 1 << 20 and len(set(data)) == 1  # one writer's file, whole
    assert [p.name for p in target.parent.iterdir()] == ["video.mp4"]  # no temporary left


def test_a_failed_writer_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    with pytest.raises(RuntimeError), download_dir(tmp_path) as folder:
        (folder / "x.tar.gz").write_bytes(b"partial")
        raise RuntimeError("network down")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_one_at_a_time_makes_the_second_process_wait(tmp_path: Path) -> None:
    lock, log = tmp_path / ".lock", tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_locked_append, args=(str(lock), str(log), tag)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    lines = log.read_text().split()
    assert [p.exitcode for p in procs] == [0, 0] and len(lines) == 4
    assert lines[0][0] == lines[1][0] and lines[2][0] == lines[3][0]  # never interleaved
