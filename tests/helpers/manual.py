"""The README's and the manual's runnable blocks: each marked ``<!-- runnable: ID -->`` on the line before its fence.

A test that runs a block reads it here by its id, so that what the reader copies is what the suite runs;
``tests/docs/test_manual.py`` checks that every marked block has a test that runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.cli import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARKED = re.compile(r"^<!-- runnable: ([a-z0-9-]+) -->\n```[a-z]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Each marked block and the test module that runs it as written
RUNNERS = {
    "demo-output": "tests/storelens/test_demo.py",  # what `make demo` prints
    "demo-next": "tests/storelens/test_demo.py",  # the next commands, as they run after it
    "chain-trial": "tests/deploy/test_chain_readme.py",  # a chain on one machine
}


def marked_blocks() -> dict[str, tuple[Path, str]]:
    """Every marked block: its id -> (the page, the block's text).

    Raises:
        ValueError: an id marked twice.
    """
    found: dict[str, tuple[Path, str]] = {}
    for page in PAGES:
        for ident, text in MARKED.findall(page.read_text(encoding="utf-8")):
            if ident in found:
                raise ValueError(f"runnable block {ident!r} is marked twice ({found[ident][0].name}, {page.name})")
            found[ident] = (page, text)
    return found


def block(ident: str) -> str:
    """The text of the block marked ``ident``."""
    return marked_blocks()[ident][1]
