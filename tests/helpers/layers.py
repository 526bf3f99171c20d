"""The package graph, drawn from the code with grimp (import-linter's engine), on the installed layout.

``python -m tests.helpers.layers`` prints the graph block of the README's Layout section.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers.cli import REPO

STAGE_DIRS = ("edge", "models", "gallery", "api", "hq", "calibration", "sample_videos")  # as in the Makefile
LAYERS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
SHELL = [m.strip() for m in LAYERS[0].split(":")]  # the top layer's modules
GROUND = [m.strip() for m in LAYERS[-1].split(":")]  # the ground floor's modules
ORDER = ["shell", "apps", "hq", "api", "calibration", "sample_videos", "edge", "gallery", "models", "ground floor"]


def _copy(src: str, dst: str) -> None:
    shutil.copy2(src, dst)  # a copy, never a link: a test may add files to the tree


def installed_tree(dest: Path, repo: Path = REPO) -> Path:
    """The installed layout (``storelens/edge``, ...) copied from the source, as ``make lint`` builds it."""
    root = dest / "storelens"
    ignore = shutil.ignore_patterns("__pycache__", "cache")
    shutil.copytree(repo / "storelens", root, copy_function=_copy, ignore=ignore)
    for d in STAGE_DIRS:
        shutil.copytree(repo / d, root / d, copy_function=_copy, ignore=ignore)
    return dest


def group_of(module: str) -> str:
    """The layer group of a ``storelens.*`` module."""
    part = module.split(".")[1] if "." in module else ""
    if part in GROUND or part == "":  # the root package holds only __version__
        return "ground floor"
    if part in SHELL:
        return "shell"
    return part


def package_graph(tree: Path) -> dict[str, set[str]]:
    """Which group imports which (group -> the groups it imports), computed by grimp in a subprocess."""
    code = (
        "import grimp, json\n"
        "g = grimp.build_graph('storelens', cache_dir=None)\n"
        "print(json.dumps([[m, sorted(g.find_modules_directly_imported_by(m))] for m in sorted(g.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(tree)),
    ).stdout
    import json

    graph: dict[str, set[str]] = {g: set() for g in ORDER}
    for module, imported in json.loads(out):
        for other in imported:
            a, b = group_of(module), group_of(other)
            if a != b:
                graph[a].add(b)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of groups that reach each other (a cycle between packages)."""

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {g: reach(g) for g in graph}
    return sorted((a, b) for a in graph for b in reached[a] if a < b and a in reached[b])


def render(graph: dict[str, set[str]]) -> str:
    """The README block: each group and the groups it imports, top layer first."""
    lines = ["```text"]
    for group in ORDER:
        targets = [g for g in ORDER if g in graph[group]]
        lines.append(f"{group:<14} -> {', '.join(targets) if targets else '(nothing of the project)'}")
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(render(package_graph(installed_tree(Path(tmp)))))
