"""Benchmark part 7: how long each command takes to start, against a bare interpreter of the same venv.

Every command runs as a user runs it (the console command installed beside this interpreter, in a subprocess),
``runs`` times; the median is reported, with the bare ``python -c "import json"`` measured in the same run and
interleaved with the commands, so that a machine busy with something else slows both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

START = "<!-- storelens-bench:cli:start -->"
END = "<!-- storelens-bench:cli:end -->"
HELP_GOAL = 6.0  # storelens --help within 6x a bare interpreter


def _config(folder: Path) -> Path:
    """A store config in ``folder``: its database and gallery there, a broker on a closed port, a missing video."""
    path = folder / "store.toml"
    path.write_text(
        '[store]\nid = "bench"\n\n[[cameras]]\nid = "entrance"\nsource = "missing.mp4"\n\n'
        '[mqtt]\nurl = "mqtt://127.0.0.1:9"\n\n'
        f'[gallery]\ndir = "{(folder / "gallery").as_posix()}"\n\n'
        f'[api]\ndatabase_url = "sqlite:///{(folder / "events.sqlite").as_posix()}"\n',
        encoding="utf-8",
    )
    return path


def _prepare(folder: Path) -> Path:
    """The config, with an empty event database and an empty gallery made by the commands themselves."""
    config = _config(folder)
    storelens = str(Path(sys.executable).with_name("storelens"))
    for argv in (["api", "token", "create", "--config", str(config), "--name", "bench", "--role", "admin"],):
        subprocess.run([storelens, *argv], capture_output=True, check=True, timeout=300)
    from storelens.config import load_config
    from storelens.gallery.factory import open_gallery
    from storelens.manifest import load_manifest

    loaded = load_config(config)
    open_gallery(loaded, load_manifest().recogniser_of(loaded.models.pack)).close()
    return config


def commands(config: Path) -> list[tuple[str, list[str]]]:
    """What is measured: a name and the argv of each command (the first is the bare interpreter)."""
    storelens = str(Path(sys.executable).with_name("storelens"))
    gallery = str(config.parent / "gallery")
    return [
        ('python -c "import json"', [sys.executable, "-c", "import json"]),
        ("storelens --help", [storelens, "--help"]),
        ("storelens gallery list (argument error)", [storelens, "gallery", "list"]),
        ("storelens gallery list --gallery DIR", [storelens, "gallery", "list", "--gallery", gallery]),
        (
            "storelens report footfall ... --format json",
            [
                storelens,
                "report",
                "footfall",
                "--config",
                str(config),
                "--from",
                "2026-12-01",
                "--to",
                "2026-12-02",
                "--format",
                "json",
                "--out",
                str(config.parent / "footfall.json"),
            ],
        ),
        ("storelens doctor --config FILE", [storelens, "doctor", "--config", str(config)]),
    ]


def measure_cli(runs: int = 5) -> dict[str, Any]:
    """Median wall time of each command's whole run, ``runs`` rounds, the commands interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        config = _prepare(Path(tmp))
        todo = commands(config)
        times: dict[str, list[float]] = {name: [] for name, _ in todo}
        codes: dict[str, int] = {}
        for _ in range(runs):
            for name, argv in todo:
                t0 = time.perf_counter()
                proc = subprocess.run(argv, capture_output=True, check=False, timeout=300, cwd=tmp)
                times[name].append((time.perf_counter() - t0) * 1000.0)
                codes[name] = proc.returncode
    bare = statistics.median(times[todo[0][0]])
    rows = [
        {"command": name, "median_ms": round(statistics.median(t), 1), "ratio": round(statistics.median(t) / bare, 1),
         "exit": codes[name]}
        for name, t in times.items()
    ]  # fmt: skip
    return {"part": "cli", "runs": runs, "rows": rows, "help_goal": HELP_GOAL}


def cli_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-7 section of docs/benchmarks.md."""
    lines = [
        START,
        "## Part 7: command start-up",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        f"- Each command run {r['runs']} times as a user runs it (the installed console command, a new process each "
        "time), interleaved with a bare interpreter of the same venv; the median of the whole run's wall time. "
        "The commands run on an empty store (no events, no members); `doctor` finds no camera and no broker.",
        "",
        "| command | median ms | x bare interpreter | exit | goal |",
        "|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        goal = f"<= {r['help_goal']:g}x" if row["command"] == "storelens --help" else ""
        lines.append(f"| `{row['command']}` | {row['median_ms']} | {row['ratio']} | {row['exit']} | {goal} |")
    lines.append(END)
    return "\n".join(lines) + "\n"
