"""The associate's iPad page in a real browser (Debian's Chromium, headless, driven by Playwright).

An arrival published on MQTT appears on two signed-in iPads; taking it on one shows it taken on the
other; a member is found by code; a screenshot is written to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import timedelta

import httpx2 as httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from storelens.clock import iso, utc_now
from storelens.edge_events import ArrivalEvent, FootfallEvent, topic
from storelens.i18n import Translator
from tests.helpers.browser import CHROMIUM, FLAGS, VIEWPORTS, assert_fits, watch
from tests.helpers.cli import ARTIFACTS, REPO, STORELENS, run_cli
from tests.helpers.configs import write_toml
from tests.helpers.services import Mosquitto, free_port, wait_port

# `api serve` holds one lock per store id on a machine: each test worker (a process) has a store of its own
STORE = f"paris-{os.getpid()}"


@pytest.fixture
def served(tmp_path):
    broker = Mosquitto(tmp_path).start()
    port = free_port()
    cfg = write_toml(
        tmp_path / "store.toml",
        {
            "store": {"id": STORE},
            "cameras": [{"id": "entrance", "source": "rtsp://x/1"}],
            "mqtt": {"url": broker.url},
            "gallery": {"dir": str(tmp_path / "gallery")},
            "api": {
                "port": port,
                "database_url": f"sqlite:///{tmp_path / 'events.sqlite'}",
                "photos_dir": str(tmp_path / "photos"),
            },
        },
    )
    tokens = {}
    for name, role in (("hq", "admin"), ("ipad-1", "associate"), ("ipad-2", "associate")):
        made = run_cli("api", "token", "create", "--json", "--config", str(cfg), "--name", name, "--role", role)
        tokens[name] = json.loads(made.stdout)["token"]
    server = subprocess.Popen(
        [STORELENS, "api", "serve", "--config", str(cfg)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, 30)
    base = f"http://127.0.0.1:{port}"
    httpx.put(
        f"{base}/api/v1/members/M-1042",
        headers={"Authorization": f"Bearer {tokens['hq']}"},
        json={
            "name": "Ada Lovelace",
            "tier": "Gold",
            "member_code": "GOLD-1042",
            "phone": "+33612345678",
            "sizes": {"shoes": "38", "dress": "S"},
            "preferences": "silk scarves, green",
            "notes": "prefers French",
        },
    ).raise_for_status()
    yield base, broker, tokens
    server.terminate()
    server.wait(10)
    broker.stop()


def just_now() -> tuple[str, str]:
    """A footfall interval that ended now and began today (an interval ending in the future is refused)."""
    now = utc_now()
    start = max(now - timedelta(minutes=1), now.replace(hour=0, minute=0, second=0, microsecond=0))
    return iso(start), iso(now + timedelta(milliseconds=1))


def publish(port: int, kind: str, payload: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic(STORE, "entrance", kind), payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test` (system-deps)")
def test_arrival_appears_and_is_taken_across_ipads(served) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, broker, tokens = served
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        ipads = []
        for name in ("ipad-1", "ipad-2"):
            ctx = browser.new_context(viewport={"width": 1180, "height": 820}, device_scale_factor=1)
            page = ctx.new_page()
            page.goto(base + "/")
            page.fill("#token", tokens[name])
            page.click("#signin-form button")
            expect(page.locator("#state")).to_have_text("live", timeout=10_000)
            ipads.append(page)
        a, b = ipads
        start, end = just_now()
        publish(
            broker.port,
            "footfall",
            FootfallEvent(
                store_id=STORE,
                camera_id="entrance",
                interval_start=start,
                interval_end=end,
                entries=7,
                unique_visitors=6,
                vip_arrivals=1,
            ).model_dump_json(),
        )
        arrival = ArrivalEvent(store_id=STORE, camera_id="entrance", member_id="M-1042", similarity=0.962, track_id=4)
        sent = time.monotonic()
        publish(broker.port, "arrival", arrival.model_dump_json())
        for page in ipads:
            card = page.locator(f'[data-event-id="{arrival.event_id}"]')
            expect(card).to_contain_text("Ada Lovelace", timeout=5_000)
            expect(card).to_contain_text("shoes 38")
            expect(card).to_contain_text("Gold")
        print(f"arrival on both iPads {1000 * (time.monotonic() - sent):.0f} ms after publishing")
        a.locator(f'[data-event-id="{arrival.event_id}"] button.take').click()
        expect(b.locator(f'[data-event-id="{arrival.event_id}"]')).to_contain_text("Taken by ipad-1", timeout=5_000)
        expect(b.locator(f'[data-event-id="{arrival.event_id}"] button.take')).to_be_disabled()
        # "Not this person" on one iPad: both show it, and the word is kept with camera and similarity
        wrong = ArrivalEvent(store_id=STORE, camera_id="entrance", member_id="M-1042", similarity=0.63,
                             track_id=9)  # fmt: skip
        publish(broker.port, "arrival", wrong.model_dump_json())
        b.locator(f'[data-event-id="{wrong.event_id}"] button.reject').click(timeout=5_000)
        expect(a.locator(f'[data-event-id="{wrong.event_id}"]')).to_contain_text("Not this person: noted by ipad-2",
                                                                                timeout=5_000)  # fmt: skip
        expect(a.locator(f'[data-event-id="{wrong.event_id}"] button.take')).to_have_count(0)
        expect(b.locator("#t-entries")).to_have_text("7", timeout=5_000)
        b.fill("#lookup", "GOLD-1042")
        b.click("#lookup-form button")
        expect(b.locator("#lookup-result")).to_contain_text("Ada Lovelace", timeout=5_000)
        b.screenshot(path=str(ARTIFACTS / "ipad.png"), full_page=True)
        # a reloaded page gets what it missed, still taken
        b.reload()
        expect(b.locator(f'[data-event-id="{arrival.event_id}"]')).to_contain_text("Taken by ipad-1", timeout=10_000)
        # a wrong token is refused on the sign-in screen
        ctx = browser.new_context()
        bad = ctx.new_page()
        bad.goto(base + "/")
        bad.fill("#token", "not-a-token")
        bad.click("#signin-form button")
        expect(bad.locator("#signin-error")).to_have_text("Unknown token.", timeout=5_000)
        browser.close()
    assert (ARTIFACTS / "ipad.png").stat().st_size > 10_000


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test` (system-deps)")
def test_the_card_shows_purchases_value_and_recommendations(served, tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from storelens.sample_videos.shop import generate_shop

    base, broker, tokens = served
    admin = {"Authorization": f"Bearer {tokens['hq']}"}
    shop = generate_shop(tmp_path / "shop", STORE, members=120, transactions=1500,
                         named={"M-1042": "Ada Lovelace"}, recent=3)  # fmt: skip
    for kind, path in (("products", shop.products), ("members", shop.members), ("transactions", shop.transactions)):
        with path.open("rb") as fh:
            done = httpx.post(f"{base}/api/v1/imports/{kind}", headers=admin, files={"file": (path.name, fh)})
        assert done.status_code == 200, done.text
    deadline = time.monotonic() + 60  # the insights are recomputed in the background after an import
    card: dict = {}
    while time.monotonic() < deadline:
        card = httpx.get(f"{base}/api/v1/members/M-1042", headers=admin).json()
        if card.get("recommendations") and card.get("value_scores"):  # computed with the transactions
            break
        time.sleep(0.5)
    assert card["recommendations"] and card["segment"] and card["purchases_12m"] > 0
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_context(viewport={"width": 1180, "height": 820}, device_scale_factor=1).new_page()
        fr = Translator("fr_FR")  # the card in French: the server's words (segment, reasons) from the catalogue
        page.goto(base + "/?lang=fr_FR")
        page.fill("#token", tokens["ipad-1"])
        page.click("#signin-form button")
        expect(page.locator("#state")).to_have_text(fr.gettext("live"), timeout=10_000)
        start, end = just_now()
        publish(broker.port, "footfall", FootfallEvent(
            store_id=STORE, camera_id="entrance", interval_start=start,
            interval_end=end, entries=6, unique_visitors=5, vip_arrivals=1).model_dump_json())  # fmt: skip
        arrival = ArrivalEvent(store_id=STORE, camera_id="entrance", member_id="M-1042", similarity=0.9,
                               track_id=1)  # fmt: skip
        publish(broker.port, "arrival", arrival.model_dump_json())
        shown = page.locator(f'[data-event-id="{arrival.event_id}"]')
        expect(shown).to_contain_text("Ada Lovelace", timeout=5_000)
        expect(shown).to_contain_text(fr.gettext(card["segment"]))
        expect(shown).to_contain_text(fr.gettext("Average basket"))
        expect(shown).to_contain_text(fr.gettext("Show them"))
        for rec in card["recommendations"]:
            expect(shown).to_contain_text(rec["name"])
            reason = fr.gettext(rec["reason_message"], **rec["reason_params"])
            assert reason != rec["reason"]  # said in French, not the English the API keeps for machines
            expect(shown).to_contain_text(reason)
        assert page.evaluate("[...SL.state.missing]") == []  # nothing shown lacked its translation
        expect(page.locator("#t-entries")).to_have_text("6", timeout=5_000)
        today = httpx.get(f"{base}/api/v1/today", headers=admin).json()
        assert today["transactions"] >= 3 and today["conversion"] == round(today["transactions"] / 6, 4)
        expect(page.locator("#t-txn")).to_have_text(str(today["transactions"]), timeout=5_000)
        expect(page.locator("#t-conv")).to_have_text(fr.percent(today["conversion"]))
        page.screenshot(path=str(ARTIFACTS / "ipad-card.png"), full_page=True)
        browser.close()


# locale asked for (?lang=), the connection pill's word once live (every one keeps a 24-hour clock)
LANGUAGES = [("en_GB", "live"), ("fr_FR", "en direct"), ("zh_Hans_CN", "已连接")]


CAPTURE_RATE = {"en_GB": "Capture rate", "fr_FR": "Taux d'entrée", "zh_Hans_CN": "进店率"}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test` (system-deps)")
def test_the_page_fits_every_ipad_in_every_language(served) -> None:
    """At 768x1024, 1024x1366 and 1366x1024, in English, French and Chinese, with an arrival and a lookup
    shown: no horizontal overflow, no console error, no message without a translation, times on a 24-hour
    clock where the locale keeps one, and an arrival outlined as new only for its first seconds."""
    import re

    from playwright.sync_api import expect, sync_playwright

    base, broker, tokens = served
    start, end = just_now()
    publish(broker.port, "footfall", FootfallEvent(store_id=STORE, camera_id="entrance", interval_start=start,
            interval_end=end, entries=3, unique_visitors=3, vip_arrivals=1, exits=1,
            passers_by=1).model_dump_json())  # fmt: skip
    arrival = ArrivalEvent(store_id=STORE, camera_id="entrance", member_id="M-1042", similarity=0.9, track_id=2)
    publish(broker.port, "arrival", arrival.model_dump_json())
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        for locale, live in LANGUAGES:
            for width, height in VIEWPORTS:
                ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
                page = ctx.new_page()
                errors = watch(page)
                page.goto(f"{base}/?lang={locale}")
                page.fill("#token", tokens["ipad-1"])
                page.click("#signin-form button")
                expect(page.locator("#state")).to_have_text(live, timeout=10_000)
                card = page.locator(f'[data-event-id="{arrival.event_id}"]')
                expect(card).to_contain_text("Ada Lovelace", timeout=5_000)
                # outlined as new for 8 s after the arrival, then not, and never again on a later page
                expect(card).not_to_have_class(re.compile(r"\bnew\b"), timeout=10_000)
                expect(page.locator("#t-entries")).to_have_text("3", timeout=5_000)
                # people through the door: 3 in, 1 out, 1 passed by: 2 inside, a capture rate of 3 / 4
                expect(page.locator("#t-occupancy")).to_have_text("2")
                expect(page.locator("#t-exits")).to_have_text("1")
                expect(page.locator("#t-passers")).to_have_text("1")
                expect(page.locator("#t-capture")).to_contain_text("75")
                words = Translator(locale)
                for word in ("Inside now", "Exits", "Passers-by", "Capture rate"):
                    expect(page.locator("main")).to_contain_text(words.gettext(word))
                expect(page.locator("main")).to_contain_text(CAPTURE_RATE[locale])  # the word a manager reads
                page.fill("#lookup", "GOLD-1042")
                page.click("#lookup-form button")
                expect(page.locator("#lookup-result")).to_contain_text("Ada Lovelace", timeout=5_000)
                assert_fits(page, f"{locale} {width}x{height}")
                clock = card.locator(".cool").inner_text()
                assert re.search(r"\d{2}:\d{2}", clock) and not re.search(r"AM|PM", clock), clock
                assert errors == [], errors
                page.screenshot(path=str(ARTIFACTS / f"ipad-{locale}-{width}x{height}.png"), full_page=True)
                ctx.close()
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test` (system-deps)")
def test_a_revoked_ipad_goes_dark_at_once(served) -> None:
    """Console -> Tokens -> revoke the iPad's token: the open page is signed out within seconds, and an
    arrival published after it never reaches it."""
    import time

    from playwright.sync_api import expect, sync_playwright

    base, broker, tokens = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_context(viewport={"width": 1180, "height": 820}).new_page()
        errors = watch(page)
        page.goto(f"{base}/?lang=en_GB")
        page.fill("#token", tokens["ipad-2"])
        page.click("#signin-form button")
        expect(page.locator("#state")).to_have_text("live", timeout=10_000)
        revoked = httpx.delete(f"{base}/api/v1/tokens/ipad-2", headers={"Authorization": f"Bearer {tokens['hq']}"})
        assert revoked.status_code == 200
        at = time.monotonic()
        expect(page.locator("#signin")).to_be_visible(timeout=3_000)
        assert time.monotonic() - at < 2.0
        expect(page.locator("#signin-error")).to_have_text("This token is not valid any more.")
        arrival = ArrivalEvent(store_id=STORE, camera_id="entrance", member_id="M-1042", similarity=0.9, track_id=9)
        publish(broker.port, "arrival", arrival.model_dump_json())
        page.wait_for_timeout(1500)
        assert page.locator(f'[data-event-id="{arrival.event_id}"]').count() == 0  # no card on a lost iPad
        assert page.evaluate("SL.token()") in ("", None)  # the device forgot the token
        assert [e for e in errors if "401" not in e and "1008" not in e] == []
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test` (system-deps)")
@pytest.mark.parametrize("path", ["/console", "/"])
def test_after_too_many_wrong_tokens_the_pages_say_how_long_to_wait(served, path) -> None:
    """Ten wrong tokens from a device, then the right one: the sign-in screen says to wait and for how long,
    never an empty app."""
    from playwright.sync_api import expect, sync_playwright

    base, _, tokens = served
    for _ in range(10):
        assert httpx.get(f"{base}/api/v1/today", headers={"Authorization": "Bearer guess"}).status_code == 401
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_context(viewport={"width": 1180, "height": 820}).new_page()
        page.goto(f"{base}{path}?lang=en_GB")
        page.fill("#token", tokens["hq"])
        page.click("#signin-form button")
        expect(page.locator("#signin-error")).to_contain_text("Too many wrong tokens from this device: try again in")
        assert page.locator("#signin").is_visible() and not page.locator("#app").is_visible()
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test` (system-deps)")
def test_no_inline_script_runs_on_any_page(served) -> None:
    """The pages' Content-Security-Policy allows scripts from the server's files only: each page (and Swagger UI,
    whose own inline script is allowed by its hash) works with no violation, and a script injected into it is
    refused by Chromium."""
    from playwright.sync_api import expect, sync_playwright

    base, _, tokens = served
    for path in ("/", "/console", "/docs"):
        policy = httpx.get(base + path).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline'; connect" not in policy and "unsafe-eval" not in policy
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_context(viewport={"width": 1180, "height": 820}).new_page()
        errors = watch(page)
        for path, ready in (("/?lang=fr_FR", "#state"), ("/console?lang=zh_Hans_CN", "#app"), ("/docs", ".opblock")):
            page.goto(base + path)
            if path != "/docs":
                page.fill("#token", tokens["hq"])
                page.click("#signin-form button")
            expect(page.locator(ready).first).to_be_visible(timeout=10_000)
            assert errors == [], f"{path}: {errors}"  # the page's own scripts all ran, none was refused
            injected = page.evaluate("""() => new Promise((done) => {
                document.addEventListener("securitypolicyviolation", (e) => done(e.violatedDirective), {once: true});
                const s = document.createElement("script");
                s.textContent = "window.injected = true";
                document.body.appendChild(s);
                setTimeout(() => done(window.injected ? "ran" : "no violation"), 2000);
            })""")  # fmt: skip
            assert injected.startswith("script-src"), f"{path}: {injected}"
            errors.clear()
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make test` (system-deps)")
def test_the_language_switch_is_on_every_page_and_remembered_by_the_device(served) -> None:
    """Switched to French on the console's sign-in: the console speaks French, again after a reload, and so does the
    iPad page on the same device; ?lang= still outranks the choice for one visit."""
    from playwright.sync_api import expect, sync_playwright

    base, _, _ = served
    fr, zh = Translator("fr_FR"), Translator("zh_Hans_CN")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_context(viewport={"width": 768, "height": 1024}).new_page()
        errors = watch(page)
        page.goto(f"{base}/console")
        expect(page.locator("#signin h2")).to_have_text("Store console sign-in")
        page.select_option("#lang-switch", "fr_FR")
        expect(page.locator("#signin h2")).to_have_text(fr.gettext("Store console sign-in"))
        page.reload()
        expect(page.locator("#signin h2")).to_have_text(fr.gettext("Store console sign-in"))
        assert page.locator("#lang-switch").input_value() == "fr_FR" and page.get_attribute("html", "lang") == "fr-FR"
        page.goto(f"{base}/")  # the iPad page: the same device, the same choice
        expect(page.locator("#signin-form button")).to_have_text(fr.gettext("Sign in"))
        page.goto(f"{base}/?lang=zh_Hans_CN")  # the address outranks it for this visit
        expect(page.locator("#signin-form button")).to_have_text(zh.gettext("Sign in"))
        assert_fits(page, "iPad sign-in, zh, 768 px")
        page.goto(f"{base}/console")
        expect(page.locator("#signin h2")).to_have_text(fr.gettext("Store console sign-in"))
        assert errors == []
        browser.close()
