"""``storelens demo``, run as a user would: the main job ends matching the sample's truth."""

from __future__ import annotations

from tests.helpers.cli import run_cli


def test_demo_runs_the_main_job(prepared_models_dir, video) -> None:
    proc = run_cli("demo", "--fast", "--models-dir", str(prepared_models_dir))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "VIP ARRIVAL  Barack Obama (M-OBAMA)" in proc.stdout
    assert "VIP ARRIVAL  Joe Biden (M-BIDEN)" in proc.stdout
    assert proc.stdout.count("VIP ARRIVAL") == 2
    assert "entries          6" in proc.stdout and "Traceback" not in proc.stderr  # Gauss (staff) twice not counted
    assert "staff excluded   2" in proc.stdout and "Staff list (never announced or counted)" in proc.stdout
    assert "4000 transactions record(s): 4000 added" in proc.stderr and "conversion       5 transactions" in proc.stdout
    assert "The associate's iPad page: http://127.0.0.1:" in proc.stdout and "Sign-in token: " in proc.stdout
