"""The HTTP and WebSocket boundary, on a real uvicorn: bad input gets 4xx or a 1008 close, one line, no traceback.

Each row is something a careless or hostile client sent; the state is checked unchanged after it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from storelens.api.app import create_app
from storelens.api.books import StoreBooks
from storelens.apps.api import build_services
from storelens.books.token_book import new_token
from storelens.config import Config
from tests.helpers.api_server import serving
from tests.helpers.images import png_declaring


@pytest.fixture(scope="module")
def api(tmp_path_factory, prepared_models_dir):
    tmp = tmp_path_factory.mktemp("api")
    config = Config.model_validate({
        "store": {"id": "tokyo-01", "timezone": "Asia/Tokyo"}, "cameras": [{"id": "entrance", "source": "x"}],
        "models": {"dir": str(prepared_models_dir)}, "gallery": {"dir": str(tmp / "gallery")},
        "api": {"photos_dir": str(tmp / "photos"), "max_upload_bytes": 1024 * 1024},
    })  # fmt: skip
    services = build_services(config, StoreBooks(f"sqlite:///{tmp / 'events.sqlite'}"))
    admin, associate = new_token(), new_token()
    services.books.tokens.add_token(admin, "hq", "admin")
    services.books.tokens.add_token(associate, "ipad-1", "associate")
    with serving(create_app(services)) as url:
        yield {"url": url, "services": services, "admin": admin, "associate": associate}
    services.close()


def upload(name: str, data: bytes) -> dict[str, Any]:
    return {"files": [("photos", (name, data, "image/png"))], "data": {"consent": "CF-1"}}


BIG = b"\x00" * (2 * 1024 * 1024)
HTTP_ROWS = [
    ("since-seq-2^63", "GET", "/api/v1/events?since_seq=9223372036854775808", "admin", {}, 422, "since_seq"),
    ("since-seq-negative", "GET", "/api/v1/notifications?since_seq=-1", "associate", {}, 422, "since_seq"),
    ("since-seq-text", "GET", "/api/v1/events?since_seq=abc", "admin", {}, 422, "since_seq"),
    ("report-year-1", "GET", "/api/v1/reports/footfall?from=0001-01-01&to=2026-01-01", "admin", {}, 422,
     "between 2000 and 2100"),
    ("report-year-9999", "GET", "/api/v1/reports/footfall?from=2026-01-01&to=9999-12-31", "admin", {}, 422,
     "between 2000 and 2100"),
    ("report-not-a-date", "GET", "/api/v1/reports/footfall?from=yesterday&to=today", "admin", {}, 422, "ISO 8601"),
    ("member-dotdot", "GET", "/api/v1/members/%2E%2E", "associate", {}, 422, "member_id"),
    ("member-dotdot-put", "PUT", "/api/v1/members/%2E%2E", "admin", {"json": {"name": "x"}}, 422, "member_id"),
    ("member-id-long", "GET", "/api/v1/members/" + "M" * 200, "associate", {}, 422, "member_id"),
    ("member-name-10k", "PUT", "/api/v1/members/M-1", "admin", {"json": {"name": "x" * 10_000}}, 422, "name"),
    ("enrol-300-char-name", "POST", "/api/v1/members/M-1/enrol", "admin", upload("a" * 300 + ".png", b"not a photo"),
     422, "aaa.png: not an image"),
    ("enrol-bomb", "POST", "/api/v1/members/M-1/enrol", "admin", upload("bomb.png", png_declaring(50_000, 50_000)),
     422, "50000x50000 pixels"),
    ("enrol-too-big", "POST", "/api/v1/members/M-1/enrol", "admin", upload("big.png", BIG), 413, "at most"),
    ("enrol-no-consent", "POST", "/api/v1/members/M-1/enrol", "admin",
     {"files": [("photos", ("a.png", b"x", "image/png"))], "data": {"consent": ""}}, 422, "consent"),
    ("enrol-consent-10k", "POST", "/api/v1/members/M-1/enrol", "admin",
     {"files": [("photos", ("a.png", b"x", "image/png"))], "data": {"consent": "C" * 10_000}}, 422, "reference"),
    ("token-empty-name", "POST", "/api/v1/tokens", "admin", {"json": {"name": "", "role": "associate"}}, 422, "name"),
    ("token-long-name", "POST", "/api/v1/tokens", "admin", {"json": {"name": "n" * 10_000, "role": "admin"}}, 422,
     "name"),
    ("take-not-an-event", "POST", "/api/v1/notifications/not-a-uuid/take", "associate", {}, 422, "event_id"),
    ("import-nested-json", "POST", "/api/v1/imports/members", "admin",
     {"files": {"file": ("m.jsonl", b'{"member_id": "M-1", "name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")}}, 422,
     "nested deeper than 8 levels"),
    ("member-name-rlo", "PUT", "/api/v1/members/M-1", "admin", {"json": {"name": "Ada \u202eecalevol"}}, 422,
     "U+202E"),
    ("member-name-nul", "PUT", "/api/v1/members/M-1", "admin", {"json": {"name": "Ada\u0000"}}, 422, "U+0000"),
    ("body-not-json", "PUT", "/api/v1/members/M-1", "admin", {"content": b"{not json",
                                                               "headers": {"content-type": "application/json"}}, 422,
     "body"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "method", "path", "who", "kwargs", "code", "named"), HTTP_ROWS,
                         ids=[r[0] for r in HTTP_ROWS])  # fmt: skip
def test_bad_http_input_is_a_4xx_with_one_line(api, caplog, name, method, path, who, kwargs, code, named) -> None:
    before = (api["services"].books.events.count(), len(api["services"].gallery()))
    headers = {"Authorization": f"Bearer {api[who]}"} | kwargs.pop("headers", {})
    with caplog.at_level(logging.INFO):
        response = httpx.request(method, api["url"] + path, headers=headers, timeout=60, **kwargs)
    assert response.status_code == code, response.text[:500]
    detail = response.json()["detail"]
    assert isinstance(detail, str) and named in detail and "\n" not in detail, detail
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
    assert (api["services"].books.events.count(), len(api["services"].gallery())) == before


def test_security_headers_and_offline_docs(api) -> None:
    for path in ("/", "/api/v1/health", "/docs"):
        response = httpx.get(api["url"] + path)
        assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]
    docs = httpx.get(api["url"] + "/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    asset = httpx.get(api["url"] + "/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert httpx.get(api["url"] + "/api/v1/health").headers["cache-control"] == "no-store"


def test_failed_tokens_are_logged_and_rate_limited(api, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="storelens.web.ratelimit"):
        codes = [httpx.get(api["url"] + "/api/v1/events", headers={"Authorization": f"Bearer guess-{i}"}).status_code
                 for i in range(12)]  # fmt: skip
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    assert len(caplog.records) == 10 and all("127.0.0.1" in r.getMessage() for r in caplog.records)
    assert not any("guess-" in r.getMessage() for r in caplog.records)  # the token itself is never logged
    api["services"].failed_tokens = type(api["services"].failed_tokens)()  # others tests may go on


WS_ROWS = [
    ("array", "[1]", "hello"),
    ("null", "null", "hello"),
    ("not-json", "hello?", "hello"),
    ("since-seq-text", '{"token": "%s", "since_seq": "abc"}', "since_seq"),
    ("since-seq-1e30", '{"token": "%s", "since_seq": 1000000000000000000000000000000}', "since_seq"),
    ("no-token", '{"since_seq": 0}', "token"),
    ("unknown-token", '{"token": "nope", "since_seq": 0}', "unknown token"),
    ("extra-field", '{"token": "%s", "since_seq": 0, "admin": true}', "admin"),
    ("binary-frame", b"\x00\x01", "text frame"),
]


@pytest.mark.parametrize(("name", "hello", "reason"), WS_ROWS, ids=[r[0] for r in WS_ROWS])
def test_a_bad_hello_closes_with_1008(api, caplog, name: str, hello: str | bytes, reason: str) -> None:
    url = api["url"].replace("http", "ws") + "/api/v1/live"
    message = hello % api["associate"] if isinstance(hello, str) and "%s" in hello else hello
    with caplog.at_level(logging.INFO), connect(url) as ws:
        ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008 and reason in closed.value.rcvd.reason
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
    api["services"].failed_tokens = type(api["services"].failed_tokens)()


@pytest.mark.parametrize("how", ["close", "drop"])
def test_a_client_that_leaves_is_quiet(api, caplog, how: str) -> None:
    url = api["url"].replace("http", "ws") + "/api/v1/live"
    with caplog.at_level(logging.INFO):
        ws = connect(url)
        ws.send(json.dumps({"token": api["associate"], "since_seq": 0}))
        assert json.loads(ws.recv(timeout=10))["kind"] == "ready"
        if how == "close":
            ws.close()
        else:
            ws.socket.close()  # the iPad's network goes away
        import time

        time.sleep(1.0)
        api["services"].hub.publish({"kind": "footfall", "seq": 1})  # the server notices on its next send
        time.sleep(1.0)
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text, caplog.text[-3000:]
    assert len(api["services"].hub) == 0


def test_openapi_documents_errors_as_they_are_sent(api) -> None:
    spec = httpx.get(api["url"] + "/openapi.json").json()
    assert spec["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]["type"] == "string"
    bad = httpx.get(api["url"] + "/api/v1/events?since_seq=x", headers={"Authorization": f"Bearer {api['admin']}"})
    assert isinstance(bad.json()["detail"], str)
