"""One import root and the layers: the wheel, import-linter's contract, and the README's package graph."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.cli import REPO
from tests.helpers.layers import cycles, installed_tree, package_graph, render

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(REPO / "pyproject.toml")], cwd=tree,
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip


def test_the_wheel_holds_only_the_storelens_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("storelens-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"storelens", wheel.name.split("-py3")[0] + ".dist-info"}
    for expected in (
        "storelens/edge/pipeline.py",
        "storelens/models/manifest.toml",
        "storelens/py.typed",
        "storelens/api/static/index.html",
        "storelens/sample_videos/truth.json",
        "storelens/api/routers/today.py",
        "storelens/apps/edge.py",
    ):
        assert expected in names


def test_the_layers_hold_and_the_readme_graph_is_the_code_s(tmp_path: Path) -> None:
    tree = installed_tree(tmp_path)
    checked = lint_imports(tree)
    assert checked.returncode == 0 and "1 kept, 0 broken" in checked.stdout, checked.stdout[-2000:]
    graph = package_graph(tree)
    assert cycles(graph) == []
    assert render(graph) in (REPO / "README.md").read_text(), "README Layout graph is stale: " + render(graph)


@pytest.mark.parametrize(
    ("module", "source", "named"),
    [
        ("edge/zz_back_arrow.py", "from storelens.gallery.gallery import Gallery\n", "storelens.gallery.gallery"),
        ("edge/zz_back_arrow.py", "from storelens.apps.edge import EdgeApp\n", "storelens.apps.edge"),
        ("api/zz_back_arrow.py", "from storelens.calibration import camera\n", "storelens.calibration"),
        ("zz_back_arrow.py", "import storelens.cli\n", "zz_back_arrow"),  # a module in no layer at all
    ],
    ids=["stage-to-stage", "stage-to-wiring", "service-to-service", "unlisted-module"],
)
def test_a_back_arrow_breaks_the_contract(tmp_path: Path, module: str, source: str, named: str) -> None:
    tree = installed_tree(tmp_path)
    (tree / "storelens" / module).write_text(source)
    checked = lint_imports(tree)
    assert checked.returncode != 0 and named in checked.stdout + checked.stderr
