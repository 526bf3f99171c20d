"""Debian's Chromium for the pages' tests: its flags, and what every page test checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# headless as root on a closed network: no sandbox, no background connections or updates
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
VIEWPORTS = [(768, 1024), (1024, 1366), (1366, 1024)]  # iPad portrait, iPad Pro portrait and landscape
LANGUAGES = ["en_GB", "fr_FR", "zh_Hans_CN"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test`")


def watch(page: Any) -> list[str]:
    """The page's console errors and uncaught exceptions, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def assert_fits(page: Any, what: str) -> None:
    """No horizontal overflow, and every message the page showed had its translation."""
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{what}: {scroll} px wide in a {inner} px window"
    assert page.evaluate("[...SL.state.missing]") == [], f"{what}: untranslated messages"
