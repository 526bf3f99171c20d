"""The manual's Layout section (docs/developer.md), drawn from the code: the packages, the ground floor, the graph.

The packages' rows come from their ``__init__`` docstrings and modules, the ground floor's lines from its modules'
docstrings, the package graph from grimp (import-linter's engine) on the installed layout.
``python -m tests.helpers.layers`` prints the whole generated part of the section.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers.cli import REPO

MANUAL_PAGE = REPO / "docs" / "developer.md"  # the developer's page of the manual holds the Layout section
STAGE_DIRS = ("edge", "models", "gallery", "api", "hq", "calibration", "sample_videos")  # as in the Makefile
LAYERS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
SHELL = [m.strip() for m in LAYERS[0].split(":")]  # the top layer's modules
GROUND = [m.strip() for m in LAYERS[-1].split(":")]  # the ground floor's modules
ORDER = [
    "shell",
    "bench",
    "apps",
    "hq",
    "api",
    "web",
    "calibration",
    "sample_videos",
    "books",
    "edge",
    "gallery",
    "models",
    "ground floor",
]


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


def module_imports(tree: Path) -> dict[str, set[str]]:
    """Each module of the installed layout and the project's modules it imports (deferred imports too), by grimp
    in a subprocess."""
    code = (
        "import grimp, json\n"
        "g = grimp.build_graph('storelens', cache_dir=None)\n"
        "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in sorted(g.modules)}))\n"
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

    return {module: set(imported) for module, imported in json.loads(out).items()}


def package_graph(tree: Path) -> dict[str, set[str]]:
    """Which group imports which (group -> the groups it imports)."""
    graph: dict[str, set[str]] = {g: set() for g in ORDER}
    for module, imported in module_imports(tree).items():
        for other in imported:
            a, b = group_of(module), group_of(other)
            if a != b:
                graph[a].add(b)
    return graph


def module_cycles(tree: Path) -> list[tuple[str, str]]:
    """Pairs of modules that import each other, directly or through others (:func:`cycles` on the module graph)."""
    return cycles(module_imports(tree))


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of nodes (groups or modules) that reach each other: a cycle between them."""

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
    """The manual's block: each group and the groups it imports, top layer first."""
    lines = ["```text"]
    for group in ORDER:
        targets = [g for g in ORDER if g in graph[group]]
        lines.append(f"{group:<14} -> {', '.join(targets) if targets else '(nothing of the project)'}")
    lines.append("```")
    return "\n".join(lines)


def _summary(path: Path) -> str:
    """The first line of a module's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.splitlines()[0] if doc else "(no docstring)"


def _installed_names(repo: Path) -> dict[str, str]:
    """Source folder -> installed package, as setup.py maps them."""
    tree = ast.parse((repo / "setup.py").read_text())
    (value,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "PACKAGE_DIR"]
    return {folder: name for name, folder in ast.literal_eval(value).items()}


def layout(repo: Path = REPO) -> str:
    """The packages table and the ground floor's list, from the source tree."""
    rows = ["| path | installs as | what (its docstring) | modules |", "|---|---|---|---|"]
    for folder, name in _installed_names(repo).items():
        packages = [repo / folder, *sorted(p.parent for p in (repo / folder).glob("*/__init__.py"))]
        for package in packages:
            rel = package.relative_to(repo)
            installed = ".".join([name, *rel.parts[1:]])
            modules = sorted(m.stem for m in package.glob("*.py") if m.stem != "__init__")
            listed = "the ground floor (below)" if installed == "storelens" else ", ".join(f"`{m}`" for m in modules)
            rows.append(f"| `{rel}/` | `{installed}` | {_summary(package / '__init__.py')} | {listed} |")
    ground = ["**Ground floor** (`storelens/`, imports nothing else of the project):", ""]
    for m in GROUND:
        module = repo / "storelens" / f"{m}.py"
        ground.append(f"- `{m}`: {_summary(module if module.is_file() else repo / 'storelens' / m / '__init__.py')}")
    return "\n".join([*rows, "", *ground])


if __name__ == "__main__":
    import tempfile

    print(layout())
    print()
    with tempfile.TemporaryDirectory() as tmp:
        print(render(package_graph(installed_tree(Path(tmp)))))
