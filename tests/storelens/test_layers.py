"""One import root and the layers: the wheel, import-linter's contracts, no import cycle, the manual's graph."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.cli import REPO
from tests.helpers.layers import MANUAL_PAGE, cycles, installed_tree, layout, module_cycles, package_graph, render

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(REPO / "pyproject.toml")], cwd=tree,
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip


def build_wheel(source: Path, out: Path) -> list[str]:
    """The file names in the wheel pip builds from ``source``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = out.glob("storelens-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def package_dir() -> dict[str, str]:
    """setup.py's PACKAGE_DIR: installed package name -> top-level folder."""
    tree = ast.parse((REPO / "setup.py").read_text())
    (value,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "PACKAGE_DIR"]
    return dict(ast.literal_eval(value))


def installed_name(tracked: str, mapping: dict[str, str]) -> str:
    folder, _, rest = tracked.partition("/")
    (package,) = [p for p, f in mapping.items() if f == folder]
    return "/".join([*package.split("."), rest])


def test_every_file_of_the_tree_ships_in_the_wheel_and_nothing_else(tmp_path: Path) -> None:
    names = build_wheel(REPO, tmp_path)
    assert {n.split("/")[0] for n in names} == {"storelens", next(n for n in names if ".dist-info/" in n).split("/")[0]}
    mapping = package_dir()
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *mapping.values()],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(tracked) > 100
    missing = [t for t in tracked if installed_name(t, mapping) not in names]
    assert missing == [], f"in the tree, not in the wheel: {missing}"
    shipped = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert shipped == {installed_name(t, mapping) for t in tracked}, "the wheel ships files the tree does not track"


def test_a_new_folder_ships_without_editing_a_list(tmp_path: Path) -> None:
    """Packages are discovered: a new subpackage with a data file ships from a copy of the tree as it is."""
    tree = tmp_path / "tree"
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", "cache", "*.onnx", "test-artifacts")
    shutil.copytree(REPO, tree, ignore=ignore, symlinks=True)
    new = tree / "api" / "zz_new" / "static"
    new.mkdir(parents=True)
    (new.parent / "__init__.py").write_text("")
    (new.parent / "module.py").write_text("X = 1\n")
    (new / "page.html").write_text("<p>new</p>\n")
    names = build_wheel(tree, tmp_path / "out")
    for expected in ("storelens/api/zz_new/module.py", "storelens/api/zz_new/static/page.html"):
        assert expected in names


def test_the_layers_hold_and_the_manual_graph_is_the_code_s(tmp_path: Path) -> None:
    tree = installed_tree(tmp_path)
    checked = lint_imports(tree)
    assert checked.returncode == 0 and "2 kept, 0 broken" in checked.stdout, checked.stdout[-2000:]
    assert "the store API and head office are independent KEPT" in checked.stdout
    graph = package_graph(tree)
    assert cycles(graph) == []
    assert "api" not in graph["hq"] and "hq" not in graph["api"]  # siblings: what both use lives below them
    assert render(graph) in MANUAL_PAGE.read_text(), "the manual's layout graph is stale: " + render(graph)


def test_no_module_imports_itself_through_others(tmp_path: Path) -> None:
    """The import graph of every module (top-level and deferred imports alike) has no cycle."""
    found = module_cycles(installed_tree(tmp_path))
    assert found == [], found


def test_a_module_cycle_is_found(tmp_path: Path) -> None:
    tree = installed_tree(tmp_path)
    (tree / "storelens" / "edge" / "zz_a.py").write_text("from storelens.edge import zz_b\n")
    (tree / "storelens" / "edge" / "zz_b.py").write_text("def f() -> None:\n    from storelens.edge import zz_a\n")
    assert ("storelens.edge.zz_a", "storelens.edge.zz_b") in module_cycles(tree)


def test_the_manual_layout_is_drawn_from_the_code() -> None:
    drawn = layout()
    assert "`hq/` | `storelens.hq`" in drawn and "`storelens/books/` | `storelens.books`" in drawn
    assert drawn in MANUAL_PAGE.read_text(), "the manual's layout is stale; python -m tests.helpers.layers:\n" + drawn


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("hq/zz_new.py", '"""A new module."""\n'),  # a module the table does not list
        ("edge/__init__.py", '"""A package that now says something else."""\n'),  # a package's docstring changed
        ("storelens/clock.py", '"""A ground-floor module that now says something else."""\n'),
    ],
    ids=["new-module", "package-docstring", "ground-floor-docstring"],
)
def test_a_change_to_the_code_makes_the_manual_layout_stale(tmp_path: Path, path: str, source: str) -> None:
    tree = tmp_path / "tree"
    skip = shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", "cache", "*.onnx", "test-artifacts")
    shutil.copytree(REPO, tree, ignore=skip, symlinks=True)
    (tree / path).write_text(source)
    assert layout(tree) not in MANUAL_PAGE.read_text()


@pytest.mark.parametrize(
    ("module", "source", "named"),
    [
        ("edge/zz_back_arrow.py", "from storelens.gallery.gallery import Gallery\n", "storelens.gallery.gallery"),
        ("edge/zz_back_arrow.py", "from storelens.apps.edge import EdgeApp\n", "storelens.apps.edge"),
        ("api/zz_back_arrow.py", "from storelens.calibration import camera\n", "storelens.calibration"),
        ("zz_back_arrow.py", "import storelens.cli.main\n", "zz_back_arrow"),  # a module in no layer at all
        ("api/zz_back_arrow.py", "from storelens.hq import web\n", "storelens.hq"),  # a tier into its sibling
        ("hq/zz_back_arrow.py", "from storelens.api import app\n", "storelens.api"),
        ("books/zz_back_arrow.py", "from storelens.api import books\n", "storelens.api"),  # the books below both
    ],
    ids=[
        "stage-to-stage",
        "stage-to-wiring",
        "service-to-service",
        "unlisted-module",
        "store-to-hq",
        "hq-to-store",
        "books-to-tier",
    ],
)
def test_a_back_arrow_breaks_the_contract(tmp_path: Path, module: str, source: str, named: str) -> None:
    tree = installed_tree(tmp_path)
    (tree / "storelens" / module).write_text(source)
    checked = lint_imports(tree)
    assert checked.returncode != 0 and named in checked.stdout + checked.stderr
