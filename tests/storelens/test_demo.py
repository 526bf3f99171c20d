"""``storelens demo``, run as a user would: the main job ends matching the sample's truth."""

from __future__ import annotations

from tests.helpers.cli import run_cli


def test_demo_runs_the_main_job(prepared_models_dir, video) -> None:
    proc = run_cli("demo", "--fast", "--models-dir", str(prepared_models_dir))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "VIP ARRIVAL  Barack Obama (M-OBAMA)" in proc.stdout
    assert "VIP ARRIVAL  Joe Biden (M-BIDEN)" in proc.stdout
    assert proc.stdout.count("VIP ARRIVAL") == 2
    assert "entries          8" in proc.stdout and "Traceback" not in proc.stderr
    assert "The associate's iPad page: http://127.0.0.1:" in proc.stdout and "Sign-in token: " in proc.stdout
