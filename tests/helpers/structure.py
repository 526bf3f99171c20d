"""The structure of the installed layout as a new engineer draws it: rooms, arrows, largest modules, long functions.

``python -m tests.helpers.structure`` prints it (the closing note of a restructuring quotes it before and after).
"""

from __future__ import annotations

import ast
import tempfile
from collections import defaultdict
from pathlib import Path

from tests.helpers.layers import ORDER, group_of, installed_tree, package_graph, render

LONG_FUNCTION = 60  # lines


def modules(tree: Path) -> dict[str, Path]:
    """Every module of the installed tree: dotted name -> file."""
    root = tree / "storelens"
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(tree).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def long_functions(path: Path) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function longer than ``LONG_FUNCTION`` lines."""
    found = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if length > LONG_FUNCTION:
                    found.append((f"{prefix}{child.name}", length))
                walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    walk(ast.parse(path.read_text()), "")
    return found


def describe(tree: Path) -> str:
    """The structure as text."""
    mods = modules(tree)
    rooms: dict[str, list[int]] = defaultdict(list)
    for name, path in mods.items():
        rooms[group_of(name)].append(len(path.read_text().splitlines()))
    lines = ["rooms (group: modules, lines):"]
    lines += [f"  {g:<14} {len(rooms[g]):>3} modules {sum(rooms[g]):>6} lines" for g in ORDER if g in rooms]
    lines += [f"  {g:<14} {len(rooms[g]):>3} modules {sum(rooms[g]):>6} lines" for g in rooms if g not in ORDER]
    lines.append("arrows:")
    lines += ["  " + line for line in render(package_graph(tree)).splitlines()[1:-1]]
    sizes = sorted(((len(p.read_text().splitlines()), n) for n, p in mods.items()), reverse=True)
    lines.append("largest modules:")
    lines += [f"  {n:>5} {name}" for n, name in sizes[:10]]
    longs = sorted(((n, f"{name}.{fn}") for name, p in mods.items() for fn, n in long_functions(p)), reverse=True)
    lines.append(f"functions over {LONG_FUNCTION} lines: {len(longs)}")
    lines += [f"  {n:>5} {name}" for n, name in longs]
    return "\n".join(lines)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(describe(installed_tree(Path(tmp))))
