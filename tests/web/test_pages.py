"""The pages' shell: each page of both tiers is the one shell with its parts; a part out of place is named."""

from __future__ import annotations

from pathlib import Path

import pytest

import storelens.api
import storelens.hq
from storelens.web.pages import SHELL, page_of

PAGES = {
    "ipad": Path(storelens.api.__file__).with_name("static") / "index.html",
    "store-console": Path(storelens.api.__file__).with_name("static") / "console.html",
    "hq-console": Path(storelens.hq.__file__).with_name("static") / "console.html",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_is_the_shell_with_its_parts(name: str) -> None:
    page = page_of(PAGES[name])
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<!-- slot:" not in page and "<!-- fill:" not in page
    assert page.count('<form id="signin-form"') == 1 and page.count('<input id="token"') == 1
    assert '<script src="/static/kit/pages.js"></script>' in page  # the kit's script, served by both tiers


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda t: t.replace("<!-- fill:header -->", "<!-- fill:heading -->"), "heading"),  # a part with no slot
        (lambda t: t[: t.index("<!-- fill:script -->")], "script"),  # a slot left empty
    ],
    ids=["unknown-part", "missing-part"],
)
def test_a_part_out_of_place_is_named(tmp_path: Path, change, named: str) -> None:
    broken = tmp_path / "console.html"
    broken.write_text(change(PAGES["store-console"].read_text()))
    with pytest.raises(ValueError, match=named):
        page_of(broken)
    assert SHELL.is_file()
