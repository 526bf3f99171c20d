"""``storelens demo``, run as a user would: the main job ends matching the sample's truth, leaves a store folder
whose next commands work as printed, and prints what the README shows (its runnable blocks, tests/helpers/manual.py)."""

from __future__ import annotations

import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.manual import block


def normalise(text: str) -> list[str]:
    """Lines with what changes from run to run (times, similarities, ids, ports, dates) made constant."""
    text = re.sub(r"\d\d:\d\d:\d\d", "HH:MM:SS", text)
    text = re.sub(r"\d\d:\d\d-\d\d:\d\d", "HH:MM-HH:MM", text)
    text = re.sub(r"similarity 0\.\d+", "similarity S", text)
    text = re.sub(r"anon-[0-9a-f]{12}", "anon-ID", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"\d{4}-\d\d-\d\d", "YYYY-MM-DD", text)
    text = re.sub(r"Sign-in token: \S+", "Sign-in token: TOKEN", text)
    return [line.rstrip() for line in text.splitlines()]


def readme_demo_output() -> list[str]:
    """The README's example of what `make demo` prints (its block marked ``demo-output``).

    The footfall line is left out: where the run falls in a 15-minute interval decides how its counts split.
    """
    return [line for line in normalise(block("demo-output")) if line and "  footfall  " not in line]


def next_commands(text: str) -> list[str]:
    """The next commands' lines, spacing collapsed and the command as ``storelens`` (printed with the venv's path,
    which in the README is ``.venv/bin`` and in a test the test's venv)."""
    lines = [
        re.sub(r"\s+", " ", line.strip()) for line in normalise(text) if re.match(r"  (\S*/)?storelens |  http", line)
    ]
    return [re.sub(r"^\S*/storelens ", "storelens ", line) for line in lines]


def test_demo_runs_the_main_job_and_leaves_a_store(prepared_models_dir, video, tmp_path: Path) -> None:
    store = tmp_path / "demo-store"
    proc = run_cli("demo", "--fast", "--models-dir", str(prepared_models_dir), "--keep", str(store), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "VIP ARRIVAL  Barack Obama (M-OBAMA)" in proc.stdout
    assert "VIP ARRIVAL  Joe Biden (M-BIDEN)" in proc.stdout
    assert proc.stdout.count("VIP ARRIVAL") == 2
    assert "entries          6" in proc.stdout and "Traceback" not in proc.stderr  # Gauss (staff) twice not counted
    assert "staff excluded   2" in proc.stdout and "Staff list (never announced or counted)" in proc.stdout
    assert "4000 transactions record(s): 4000 added" in proc.stderr and "conversion       5 transactions" in proc.stdout
    assert "The associate's iPad page: http://127.0.0.1:" in proc.stdout and "Sign-in token: " in proc.stdout
    # what the README shows is what the demo prints
    printed = normalise(proc.stdout)
    assert [line for line in readme_demo_output() if line not in printed] == []
    assert next_commands(block("demo-next")) == next_commands(proc.stdout)  # the README's next commands, as printed
    assert block("demo-next").count(".venv/bin/storelens ") == 3  # as they run after `make demo`, from the checkout
    # the store folder stays, and every next command printed works on it as printed
    assert {"store.toml", "tokens.txt", "events.sqlite", "gallery"} <= {p.name for p in store.iterdir()}
    assert (store / "tokens.txt").stat().st_mode & 0o077 == 0
    roles = dict(line.split() for line in (store / "tokens.txt").read_text().splitlines())
    assert set(roles) == {"associate", "admin"} and roles["associate"] in proc.stdout
    # the command as the user can type it: `storelens` where the PATH finds it, else the venv's (.venv/bin/storelens)
    commands = [
        line.split("#")[0].strip() for line in proc.stdout.splitlines() if re.match(r"  (\S*/)?storelens ", line)
    ]
    assert len(commands) == 3
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[:2] == ["api", "serve"]:
            served = run_cli(*argv, cwd=tmp_path, stop_after=15)
            assert "store API for demo-store" in served.stderr and "Traceback" not in served.stderr
            continue
        done = run_cli(*argv, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        if argv[:2] == ["report", "footfall"]:
            today = datetime.now(UTC).date().isoformat()
            assert today in done.stdout and done.stdout.count("\n") >= 2
        else:
            assert "M-OBAMA" in done.stdout and "M-BIDEN" in done.stdout
    # a second demo empties the folder it made; a folder of someone else's is refused
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    refused = run_cli("demo", "--fast", "--keep", str(other), cwd=tmp_path)
    assert refused.returncode == 2 and "not a demo store's" in refused.stderr and (other / "notes.txt").exists()


def test_a_failure_while_enrolling_leaves_no_broker_running(prepared_models_dir, video, tmp_path, monkeypatch) -> None:
    """Every process the demo starts is stopped on every way out: here enrolment fails after the broker started."""
    import argparse
    import socket

    import pytest

    from storelens.cli import demo
    from storelens.errors import EnrolmentError

    started: list[demo.LocalBroker] = []

    class Recorded(demo.LocalBroker):
        def start(self) -> demo.LocalBroker:
            started.append(self)
            return super().start()

    def fail(*args: object) -> None:
        raise EnrolmentError("a photo of the scenario cannot be read")

    monkeypatch.setattr(demo, "LocalBroker", Recorded)
    monkeypatch.setattr(demo, "enrol", fail)
    args = argparse.Namespace(
        models_dir=str(prepared_models_dir), keep=str(tmp_path / "store"), fast=True, mqtt="mqtt://127.0.0.1:1883"
    )
    with pytest.raises(EnrolmentError):
        demo.run_demo(args)
    (broker,) = started
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", broker.port)) != 0  # nothing listens any more


def test_the_next_commands_name_storelens_as_it_can_be_typed_here(tmp_path: Path, monkeypatch) -> None:
    from storelens.cli.demo import command_name

    venv_command = Path(sys.executable).with_name("storelens")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # after `make demo`: the venv is not on the PATH
    assert command_name() == str(venv_command)
    monkeypatch.chdir(venv_command.parent.parent.parent)  # the checkout, beside .venv
    assert command_name() == str(venv_command.relative_to(venv_command.parent.parent.parent))
    monkeypatch.setenv("PATH", f"{venv_command.parent}:/usr/bin:/bin")  # activated: the bare name
    assert command_name() == "storelens"
