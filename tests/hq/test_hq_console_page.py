"""The head-office console in Debian's Chromium: chain, region and store footfall on store-local days, the
ranking, VIP arrival counts, boxes and their software, members and erasures; every page at three iPad sizes in
three languages, with no overflow, no console error and no untranslated message."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storelens.books.token_book import new_token
from storelens.chain_messages import VisitRecord
from storelens.clock import iso, utc_now
from storelens.config import HqConfig
from storelens.edge_events import ArrivalEvent, FootfallEvent, StatusEvent, new_event_id
from storelens.hq.access import HqServices
from storelens.hq.chain_reports import ChainReports
from storelens.hq.crm import CrmOutbox
from storelens.hq.registry import ChainMembers, record_status
from storelens.hq.web import create_hq_app
from storelens.i18n import Translator
from tests.helpers.api_server import serving
from tests.helpers.browser import CHROMIUM, FLAGS, LANGUAGES, VIEWPORTS, assert_fits, needs_chromium, watch
from tests.helpers.cli import ARTIFACTS

PAGES = [("chain", "#chain-table tr"), ("ranking", "#rank-table tr"), ("boxes", "#boxes-table tr"),
         ("members", "#members-table tr")]  # fmt: skip
STORES = [
    {"id": "paris", "name": "Paris Opéra", "region": "FR", "timezone": "Europe/Paris"},
    {"id": "shanghai", "name": "南京西路", "region": "CN", "timezone": "Asia/Shanghai"},
    {"id": "ny", "name": "New York 5th", "region": "US", "timezone": "America/New_York"},
]


@pytest.fixture
def chain_console(tmp_path: Path):
    from storelens.api.books import StoreBooks

    books = StoreBooks(f"sqlite:///{tmp_path / 'hq.sqlite'}")
    members = ChainMembers(books.engine)  # makes the chain's tables
    day = datetime.combine((utc_now() - timedelta(days=1)).date(), datetime.min.time(), UTC)
    for k, store in enumerate(("paris", "shanghai", "ny")):
        for hour in (2, 9, 14):
            start = day + timedelta(hours=hour)
            books.events.add(FootfallEvent(store_id=store, camera_id="door", interval_start=iso(start),
                                           interval_end=iso(start + timedelta(minutes=15)), entries=5 + 7 * k + hour,
                                           exits=2, passers_by=10, unique_visitors=0,
                                           vip_arrivals=0).model_dump())  # fmt: skip
        books.events.add(ArrivalEvent(store_id=store, camera_id="door", member_id=f"M-{k}", similarity=0.8,
                                      track_id=1, ts=iso(day + timedelta(hours=10))).model_dump())  # fmt: skip
        record_status(books.engine, StatusEvent(store_id=store, camera_id="door", state="online", fps=5.0))
    config = HqConfig.model_validate({"stores": STORES, "locale": "fr_FR", "timezone": "Europe/Paris"})
    reports = ChainReports(books.events, {s.id: s for s in config.stores}, "EUR")
    tokens = {role: new_token() for role in ("analyst", "admin")}
    for role, token in tokens.items():
        books.tokens.add_token(token, f"{role}-1", role)
    crm = CrmOutbox(books.engine)  # one visit the member platform refused once
    crm.add_visit(VisitRecord(visit_id=new_event_id(), store_id="paris", camera_id="door", member_id="M-0",
                              arrived_at=iso(day), window_minutes=60, bought=False))  # fmt: skip
    [due] = crm.claim(1.0)
    crm.failed(due["id"], 0, "HTTP 500", 60.0)
    hq = HqServices(config, books.events, books.tokens, members, reports, threading.Event(), crm)
    with serving(create_hq_app(hq)) as base:
        yield base, tokens
    books.close()


@needs_chromium
def test_every_head_office_page_fits_and_speaks_each_language(chain_console) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, tokens = chain_console
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        for lang in LANGUAGES:
            for width, height in VIEWPORTS:
                page = browser.new_context(viewport={"width": width, "height": height}).new_page()
                errors = watch(page)
                page.goto(f"{base}/console?lang={lang}")
                page.fill("#token", tokens["admin"])
                page.click("#signin-form button")
                tr = Translator(lang)
                for name, ready in PAGES:
                    page.click(f'#tabs a[href="#{name}"]')
                    expect(page.locator(f'body[data-ready="{name}"]')).to_have_count(1, timeout=15_000)
                    expect(page.locator(ready).first).to_be_visible()
                    assert_fits(page, f"{name} {lang} {width}x{height}")
                    page.screenshot(path=str(ARTIFACTS / f"hq-{name}-{lang}-{width}x{height}.png"), full_page=True)
                    if name == "chain":  # exits, passers-by and the capture rate, in the reader's words
                        for word in ("Exits", "Passers-by", "Capture rate"):
                            expect(page.locator("#chain-table th", has_text=tr.gettext(word)).first).to_be_visible()
                        expect(page.locator("#chain-table tbody")).to_contain_text("%")
                        # the till's data stays at the stores: unavailable here, never 0
                        expect(page.locator("#chain-table tbody")).to_contain_text(tr.gettext("unavailable"))
                    if name == "members":  # what waits for the member platform, and why
                        expect(page.locator("#platform-note")).to_contain_text("HTTP 500")
                assert errors == [], (lang, width, errors)
                page.context.close()
        # what the pages say: each store's day, the ranking, the software versions, and an analyst kept out
        page = browser.new_context(viewport={"width": 1366, "height": 1024}).new_page()
        page.goto(f"{base}/console?lang=en_GB#ranking")
        page.fill("#token", tokens["analyst"])
        page.click("#signin-form button")
        expect(page.locator("#rank-table tbody tr").first).to_contain_text("New York 5th", timeout=10_000)
        expect(page.locator("#arrivals-table")).to_contain_text("shanghai")
        page.click('#tabs a[href="#boxes"]')
        expect(page.locator("#boxes-table")).to_contain_text("0.1.0")
        page.click('#tabs a[href="#members"]')
        expect(page.locator("#members-note")).to_contain_text("admin tokens", timeout=10_000)
        browser.close()
