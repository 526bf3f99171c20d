"""Progress of long steps: nothing for a short one, a line per tenth in a log, a file read counted as it goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelens.cli import progress as progress_module
from storelens.cli.progress import Progress, counted


def test_a_short_step_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("quick") as p:
        for i in range(100):
            p(i, 100)
    assert capsys.readouterr().err == ""


def test_a_long_step_prints_a_line_per_tenth_when_not_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "QUIET_SECONDS", 0.0)
    with Progress("rendering") as p:
        for i in range(1000):
            p(i, 1000)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"storelens: rendering: {n} %" for n in range(0, 101, 10)]


def test_a_file_is_counted_as_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_bytes(b"member_id,name\n" + b"M-1,Ann\n" * 50_000)
    seen: list[tuple[int, int]] = []
    with path.open("rb") as fh:
        text = counted(fh, lambda done, total: seen.append((done, total))).read()
    assert len(text) == path.stat().st_size and seen[-1] == (len(text), len(text)) and len(seen) > 2
