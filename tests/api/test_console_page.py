"""The store manager's console in a real browser (Debian's Chromium, headless, driven by Playwright).

Every page at 768x1024, 1024x1366 and 1366x1024 in English, French and Chinese: no horizontal overflow, no
console error, no message without a translation, a screenshot each in test-artifacts/. Then the whole loop:
a member enrolled from the console with a registry photo and a recorded consent, the sample video played
through the edge, the arrival on the iPad page, the member erased from the console with a receipt, and the
gallery without them.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from storelens.api.books import StoreBooks
from storelens.clock import iso, utc_now
from storelens.edge_events import ArrivalEvent, FootfallEvent
from storelens.i18n import Translator
from tests.helpers.browser import CHROMIUM, FLAGS, LANGUAGES, VIEWPORTS, assert_fits, needs_chromium, watch
from tests.helpers.cli import ARTIFACTS, REPO, STORELENS, run_cli
from tests.helpers.configs import write_toml
from tests.helpers.services import free_port, wait_port

# page, what shows once it has loaded
PAGES = [("overview", "#today-tiles .tile"), ("reports", "#r-table tr"), ("health", "#h-table tr"),
         ("members", "#a-table tr"), ("cameras", "#c-table tr"), ("tokens", "#t-table tr")]  # fmt: skip


def store_config(tmp_path: Path, video: Path, broker_url: str, port: int, store_id: str) -> Path:
    return write_toml(
        tmp_path / "store.toml",
        {
            "store": {"id": store_id, "name": "Rivoli", "timezone": "Europe/Paris", "locale": "fr_FR"},
            # eu: faces are recognised only where every entrant consented (a members' lounge)
            "cameras": [{"id": "lounge", "source": str(video), "analysis_fps": 5.0, "members_only": True}],
            "mqtt": {"url": broker_url},
            "gallery": {"dir": str(tmp_path / "gallery")},
            "edge": {"outbox": str(tmp_path / "outbox.sqlite")},
            "privacy": {"profile": "eu", "controller": "Maison Exemple SAS", "contact": "privacy@example.fr"},
            "api": {"port": port, "database_url": f"sqlite:///{tmp_path / 'events.sqlite'}",
                    "photos_dir": str(tmp_path / "photos")},
        },
    )  # fmt: skip


@pytest.fixture
def console(tmp_path, video, prepared_models_dir, broker):
    port = free_port()
    # a store id of its own: `api serve` holds one lock per store id on this machine, and tests run in parallel
    store_id = f"rivoli-{uuid.uuid4().hex[:8]}"
    cfg = store_config(tmp_path, video, broker.url, port, store_id)
    tokens = {}
    for name, role in (("manager", "admin"), ("ipad-1", "associate")):
        made = run_cli("api", "token", "create", "--json", "--config", str(cfg), "--name", name, "--role", role)
        tokens[name] = json.loads(made.stdout)["token"]
    books = StoreBooks(f"sqlite:///{tmp_path / 'events.sqlite'}")  # a week of counts for the charts
    now = utc_now().replace(minute=0, second=0, microsecond=0)
    for hours_ago in range(2, 24 * 7, 5):
        start = now - timedelta(hours=hours_ago)
        books.events.add(FootfallEvent(store_id=store_id, camera_id="lounge", interval_start=iso(start),
                                       interval_end=iso(start + timedelta(minutes=15)), entries=3 + hours_ago % 7,
                                       exits=1 + hours_ago % 3, passers_by=4, unique_visitors=0, vip_arrivals=0,
                                       unique_visitors_available=False, visitor_tokens=()).model_dump())  # fmt: skip
    arrival = ArrivalEvent(store_id=store_id, camera_id="lounge", member_id="M-1", similarity=0.7, track_id=1)
    books.events.add(arrival.model_dump())
    books.events.judge(arrival.event_id, "rejected", "ipad-1")
    books.close()
    env = {"STORELENS_MODELS_DIR": str(prepared_models_dir)}
    server = subprocess.Popen([STORELENS, "api", "serve", "--config", str(cfg)], cwd=REPO, env=_env(env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_port(port, 30)
    yield {"base": f"http://127.0.0.1:{port}", "tokens": tokens, "config": cfg, "tmp": tmp_path, "env": env}
    server.terminate()
    server.wait(10)


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return os.environ | extra


def sign_in(page, base: str, token: str, path: str = "/console") -> None:
    from playwright.sync_api import expect

    page.goto(base + path)
    page.fill("#token", token)
    page.click("#signin-form button")
    expect(page.locator("#app")).to_be_visible(timeout=10_000)


@needs_chromium
def test_every_console_page_fits_every_ipad_in_every_language(console) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = console["base"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        for lang in LANGUAGES:
            for width, height in VIEWPORTS:
                ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
                page = ctx.new_page()
                errors = watch(page)
                sign_in(page, base, console["tokens"]["manager"], f"/console?lang={lang}")
                tr = Translator(lang)
                for name, ready in PAGES:
                    page.click(f'#tabs a[href="#{name}"]')
                    expect(page.locator(f'body[data-ready="{name}"]')).to_have_count(1, timeout=15_000)
                    expect(page.locator(ready).first).to_be_visible()
                    assert_fits(page, f"{name} {lang} {width}x{height}")
                    page.screenshot(path=str(ARTIFACTS / f"console-{name}-{lang}-{width}x{height}.png"), full_page=True)
                    if name == "overview":  # the week's people through the door, in the reader's words
                        week = page.locator("#week-tiles")
                        for word in ("Exits", "Passers-by", "Capture rate"):
                            expect(week).to_contain_text(tr.gettext(word))
                        capture = week.locator(".tile", has_text=tr.gettext("Capture rate")).locator("b")
                        expect(capture).to_contain_text("%")
                    if name == "reports":
                        for word in ("Exits", "Passers-by", "Capture rate", "Inside"):
                            expect(page.locator("#r-table th", has_text=tr.gettext(word)).first).to_be_visible()
                # plural forms by the language's rule, from the catalogue the page was sent (French: 0 and 1 singular)
                forms = page.evaluate("[0, 1, 2].map((n) => SL.tn('yes ({n} photo)', 'yes ({n} photos)', n))")
                assert forms == [tr.ngettext("yes ({n} photo)", "yes ({n} photos)", n) for n in (0, 1, 2)], forms
                assert errors == [], (lang, width, errors)
                ctx.close()
        # the pages show what the API says: the rejected announcement, and the radar's explained reference
        page = browser.new_context(viewport={"width": 1366, "height": 1024}).new_page()
        sign_in(page, base, console["tokens"]["manager"], "/console?lang=en_GB")
        page.goto(f"{base}/console?lang=en_GB#cameras")
        expect(page.locator("#o-table")).to_contain_text("100%", timeout=10_000)  # 1 rejected of 1 answered
        page.click("#c-table .snap")
        expect(page.locator("#c-snapshot")).to_be_visible(timeout=30_000)
        assert page.evaluate("document.getElementById('c-snapshot').naturalWidth") >= 640
        page.screenshot(path=str(ARTIFACTS / "console-cameras-snapshot.png"), full_page=True)
        # the radar's table says what its chart draws (the server's words for both), in the reader's language
        page.goto(f"{base}/console?lang=fr_FR#health")
        expect(page.locator("#h-note")).to_contain_text("référence", timeout=10_000)
        period = {
            "from": page.input_value("#h-from"),
            "to": str(date.fromisoformat(page.input_value("#h-to")) + timedelta(days=1)),
        }
        answer = httpx.get(f"{base}/api/v1/reports/health", params={**period, "lang": "fr_FR"},
                           headers={"Authorization": f"Bearer {console['tokens']['manager']}"})  # fmt: skip
        said = answer.json()["shown"]
        cells = page.locator("#h-table tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        assert [c[1] for c in cells] == list(said["scores"].values()) and [c[2] for c in cells] == list(
            said["reference"].values()
        )
        browser.close()


@needs_chromium
def test_enrol_from_the_console_see_the_arrival_erase_with_a_receipt(console, photos) -> None:
    """The loop a store manager and an associate live: enrol, arrival, erasure, gone from the gallery."""
    from playwright.sync_api import expect, sync_playwright

    base, tokens = console["base"], console["tokens"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        manager = browser.new_context(viewport={"width": 1366, "height": 1024}).new_page()
        errors = watch(manager)
        sign_in(manager, base, tokens["manager"], "/console?lang=en_GB")
        manager.goto(f"{base}/console?lang=en_GB#members")
        manager.fill("#e-id", "M-OBAMA")
        manager.fill("#e-name", "Barack Obama")
        manager.set_input_files("#e-photo", str(photos["obama.jpg"]))  # the video shows another photo of him
        expect(manager.locator("#e-verdict")).to_contain_text("Usable", timeout=30_000)
        manager.fill("#e-consent", "form-2026-0042")
        manager.check("#e-separate")  # the eu profile asks for a consent given on its own
        manager.click("#e-save")
        expect(manager.locator("#e-result")).to_contain_text("Enrolled M-OBAMA", timeout=30_000)
        manager.screenshot(path=str(ARTIFACTS / "console-members-enrolled.png"), full_page=True)

        ipad = browser.new_context(viewport={"width": 1024, "height": 1366}).new_page()
        sign_in(ipad, base, tokens["ipad-1"], "/?lang=fr_FR")
        expect(ipad.locator("#state")).to_have_text("en direct", timeout=10_000)
        edge = run_cli("edge", "run", "--config", str(console["config"]), env=console["env"])
        assert edge.returncode == 0, edge.stderr[-2000:]
        expect(ipad.locator("#feed .card", has_text="Barack Obama")).to_have_count(1, timeout=15_000)
        ipad.screenshot(path=str(ARTIFACTS / "ipad-arrival-from-the-video.png"), full_page=True)

        manager.fill("#search", "obama")
        manager.click("#search-form button")
        expect(manager.locator("#m-table")).to_contain_text("M-OBAMA", timeout=10_000)
        # the list of every member: sorted by a click, exported and erased from the member's row
        manager.reload()
        row = manager.locator("#ml-table tbody tr", has_text="M-OBAMA")
        expect(row).to_contain_text("form-2026-0042", timeout=10_000)  # the consent's reference
        manager.click("#ml-table th[data-sort=member_id]")
        expect(manager.locator("#ml-table th[data-sort=member_id]")).to_contain_text("▲")
        with manager.expect_download() as got:
            row.locator(".export").click()
        assert "M-OBAMA" in Path(got.value.path()).read_text(encoding="utf-8")
        manager.once("dialog", lambda d: d.accept())
        row.locator(".erase").click()
        expect(manager.locator("#receipt-line")).to_contain_text("Erased M-OBAMA", timeout=15_000)
        expect(manager.locator("#ml-table")).not_to_contain_text("M-OBAMA")
        expect(manager.locator("#receipt-line")).to_contain_text("Receipt erasure-")
        manager.screenshot(path=str(ARTIFACTS / "console-members-erased.png"), full_page=True)
        assert errors == [], errors
        browser.close()
    listed = run_cli("gallery", "list", "--json", "--gallery", str(console["tmp"] / "gallery"), "--config",
                     str(console["config"]), env=console["env"])  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "M-OBAMA" not in listed.stdout


@needs_chromium
def test_import_members_from_the_console_with_progress_and_each_refusal(console, photos, tmp_path) -> None:
    """A manifest and a zip of photos through the console: the enrolled counted, each refused row shown with why."""
    import zipfile

    from playwright.sync_api import expect, sync_playwright

    manifest = tmp_path / "members.csv"
    manifest.write_text(
        "member_id,name,consent_reference,separate_consent,photos\n"
        "M-OBAMA,Barack Obama,CF-1,true,crm/obama.jpg\n"
        "M-GROUP,A Group,CF-2,true,crm/t1.jpg\n"
        "M-LATE,No Separate Consent,CF-3,,crm/biden.jpg\n",  # the eu profile asks for a consent on its own
        encoding="utf-8",
    )
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("obama.jpg", "t1.jpg", "biden.jpg"):
            zf.write(photos[name], f"crm/{name}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_context(viewport={"width": 1366, "height": 1024}).new_page()
        errors = watch(page)
        sign_in(page, console["base"], console["tokens"]["manager"], "/console?lang=fr_FR")
        page.goto(f"{console['base']}/console?lang=fr_FR#members")
        page.set_input_files("#i-manifest", str(manifest))
        page.set_input_files("#i-photos", str(archive))
        page.click("#i-start")
        expect(page.locator("#i-summary")).to_contain_text("2 membre(s) traité(s) sur 2", timeout=60_000)
        expect(page.locator("#i-summary")).to_contain_text("1 enregistré(s), 0 passé(s), 2 refusé(s)")
        expect(page.locator("#i-table")).to_contain_text("M-GROUP")
        expect(page.locator("#i-table")).to_contain_text("none clearly the subject")
        expect(page.locator("#i-table")).to_contain_text("requires separate consent")
        page.screenshot(path=str(ARTIFACTS / "console-members-imported.png"), full_page=True)
        assert errors == [], errors
        browser.close()
    listed = run_cli("gallery", "list", "--json", "--gallery", str(console["tmp"] / "gallery"), "--config",
                     str(console["config"]), env=console["env"])  # fmt: skip
    assert [json.loads(line)["member_id"] for line in listed.stdout.splitlines()] == ["M-OBAMA"]
