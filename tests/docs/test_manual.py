"""The manual (MkDocs, docs/) and the README: a strict offline build, a short README, and runnable blocks that run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import REPO
from tests.helpers.manual import RUNNERS, marked_blocks

MKDOCS = Path(sys.executable).with_name("mkdocs")
PAGES = ["index", "installer", "store-manager", "head-office", "privacy", "developer", "benchmarks"]


def build(source: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of ``source`` into ``site``, offline (no proxy, nothing reachable)."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", NO_PROXY="*", HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="")
    return subprocess.run([str(MKDOCS), "build", "--strict", "--site-dir", str(site)], cwd=source, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_the_manual_builds_offline_with_no_warning(tmp_path: Path) -> None:
    built = build(REPO, tmp_path / "site")
    out = built.stdout + built.stderr
    assert built.returncode == 0 and "WARNING" not in out and "Traceback" not in out, out[-3000:]
    for page in PAGES:
        assert (tmp_path / "site" / f"{page}.html").is_file(), page
    assert "fonts.googleapis" not in (tmp_path / "site" / "index.html").read_text()  # reads on a box with no internet


@pytest.mark.parametrize(
    ("page", "added"),
    [
        ("privacy.md", "\nSee [the missing page](nowhere.md).\n"),
        ("installer.md", "\nSee [a missing heading](head-office.md#no-such-heading).\n"),
    ],
    ids=["missing-page", "missing-anchor"],
)
def test_a_broken_link_fails_the_build(tmp_path: Path, page: str, added: str) -> None:
    source = tmp_path / "src"
    shutil.copytree(REPO / "docs", source / "docs")
    shutil.copy(REPO / "mkdocs.yml", source)
    with (source / "docs" / page).open("a", encoding="utf-8") as fh:
        fh.write(added)
    built = build(source, tmp_path / "site")
    assert built.returncode != 0 and "WARNING" in built.stdout + built.stderr


def test_the_readme_is_a_screen_or_two_and_says_where_to_go_next() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 200
    assert "make demo" in readme and "make test" in readme and "make docs" in readme
    assert ".venv/bin/storelens" in readme and ". .venv/bin/activate" in readme  # the next commands as they run
    for page in PAGES[1:]:
        assert f"docs/{page}.md" in readme, page


def test_every_runnable_block_is_run_by_a_test() -> None:
    marked = marked_blocks()
    assert set(marked) == set(RUNNERS), "a block marked runnable needs a runner in tests/helpers/manual.py"
    for ident, runner in RUNNERS.items():
        source = (REPO / runner).read_text(encoding="utf-8")
        assert re.search(rf'block\("{ident}"\)', source), f"{runner} does not run the block {ident!r}"
