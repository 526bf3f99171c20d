"""The console command: contract subcommands, exit codes, JSON output, the bench report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers.cli import run_cli


def test_bad_usage_exits_2() -> None:
    assert run_cli().returncode == 2
    assert run_cli("models", "frobnicate").returncode == 2
    proc = run_cli("bench", "--runs", "0")
    assert proc.returncode == 2 and "expected a whole number >= 1" in proc.stderr


def test_faces_compare(prepared_models_dir: Path, photos) -> None:
    proc = run_cli(
        "faces",
        "compare",
        "--json",
        "--models-dir",
        str(prepared_models_dir),
        str(photos["obama.jpg"]),
        str(photos["obama2.jpg"]),
        str(photos["biden.jpg"]),
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    verdicts = {(Path(r["a"]).name, Path(r["b"]).name): r["same_person"] for r in rows}
    assert verdicts == {("obama.jpg", "obama2.jpg"): True, ("obama.jpg", "biden.jpg"): False,
                        ("obama2.jpg", "biden.jpg"): False}  # fmt: skip


def test_bench_writes_markdown_and_json(prepared_models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# StoreLens benchmarks\n\nIntro kept.\n")
    common = ["--json", "--runs", "1", "--models-dir", str(prepared_models_dir), "--write", str(out)]
    parts = {}
    for part, extra in (
        ("models", []),
        ("gallery", ["--scales", "2000", "--pack", "default"]),
        ("edge", ["--baseline-seconds", "2", "--max-cameras", "1", "--pack", "default"]),
        ("api", ["--arrivals", "20"]),
    ):
        proc = run_cli("bench", "--part", part, *common, *extra)
        assert proc.returncode == 0, proc.stderr
        parts[part] = [json.loads(line) for line in proc.stdout.splitlines()]
    (result, dlib), (gallery,), (edge,), (api,) = parts["models"], parts["gallery"], parts["edge"], parts["api"]
    assert (result["pack"], result["recogniser"], dlib["pack"], dlib["recogniser"]) == (
        "default",
        "sface_2021dec",
        "scrfd_dlib",
        "dlib_resnet_v1",
    )  # both sets by default, side by side
    assert api["received"] == 20 * api["clients"] and api["p95_ms"] > 0
    for key in (
        "machine",
        "date",
        "command",
        "detector_ms_per_frame_640",
        "recogniser_ms_per_face_batched",
        "dlib_ms_per_face",
        "ratio_ours_batched_to_dlib",
    ):
        assert result[key] is not None, key
    assert result["faces"] == 29
    sface = result["engines"]["sface_2021dec"]  # both engines measured in the same run, same outputs
    assert sface["manifest"] == "opencv" and sface["onnxruntime"] > 0 and sface["opencv"] > 0
    assert sface["max_difference"] <= 1e-4
    assert gallery["part"] == "gallery" and gallery["enrolment_photos_per_s"] > 0
    (point,) = gallery["scales"]
    assert point["vectors"] == 2000 and point["index"] == "flat (exact)" and point["recall_at_1"] == 1.0
    assert edge["arrivals"] == ["M-BIDEN", "M-OBAMA"] and edge["analysed_fps"] > 0 and edge["naive_fps"] > 0
    assert edge["latency"] is not None and edge["latency"]["p95_ms"] > 0
    assert 1 <= edge["embeddings_per_track_mean"] <= edge["embeddings_per_track_max"] <= 12
    text = out.read_text()
    assert "Intro kept." in text and "| detector, ms per 640x640 frame |" in text
    headings = (
        ("## Part 1: face models", 2),
        ("## Part 2: gallery", 1),
        ("## Part 3: edge pipeline", 1),
        ("## Part 4: live push to the iPads", 1),
        ("## The model sets side by side", 1),
    )
    for heading, count in headings:
        assert text.count(heading) == count, heading
    # writing again replaces the section instead of appending another
    run_cli("bench", "--part", "api", "--arrivals", "5", *common)
    assert out.read_text().count("## Part 4: live push to the iPads") == 1
    assert out.read_text().count("## Part 1: face models") == 2


def _options_without_help(parser: Any, path: list[str]) -> list[str]:
    import argparse

    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _options_without_help(sub, [*path, name])
        elif not action.help:
            missing.append(" ".join([*path, *(action.option_strings or [action.dest])]))
    return missing


def test_every_option_of_every_command_has_a_help_text() -> None:
    from storelens.cli.main import build_parser

    assert _options_without_help(build_parser(), ["storelens"]) == []


# Modules a command may import only when it runs: none of them while the parser is built (`storelens --help`).
HEAVY = (
    *("pydantic", "numpy", "cv2", "onnxruntime", "onnx", "insightface", "fastapi", "sqlalchemy", "matplotlib"),
    *("scipy", "faiss", "paho", "storelens.config", "storelens.api", "storelens.edge", "storelens.gallery"),
)


def test_building_the_parser_imports_nothing_heavy() -> None:
    code = (
        "import sys; from storelens.cli.main import build_parser; build_parser(); "
        "print('\\n'.join(sorted(m for m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    loaded = set(proc.stdout.split())
    assert "storelens.cli.cmd_hq" in loaded  # every command is registered
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)) == []


def test_bench_cli_measures_start_up_against_a_bare_interpreter(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = run_cli("bench", "--part", "cli", "--runs", "1", "--json", "--write", str(out))
    assert proc.returncode == 0, proc.stderr
    (result,) = [json.loads(line) for line in proc.stdout.splitlines()]
    rows = {r["command"]: r for r in result["rows"]}
    assert rows['python -c "import json"']["ratio"] == 1.0 and rows["storelens --help"]["exit"] == 0
    assert rows["storelens gallery list (argument error)"]["exit"] == 2
    assert rows["storelens gallery list --gallery DIR"]["exit"] == 0
    assert rows["storelens report footfall ... --format json"]["exit"] == 0
    assert rows["storelens doctor --config FILE"]["exit"] == 1  # no camera, no broker: it says so, quickly
    assert "## Part 7: command start-up" in out.read_text()
