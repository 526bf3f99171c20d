"""Schemathesis over the store API's OpenAPI document: no server error, responses as documented.

Every operation gets generated requests (bounded examples, as an admin): any 5xx or a response that
does not match its documented schema fails the test.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from storelens.api.app import create_app
from storelens.api.books import StoreBooks
from storelens.apps.api import build_services
from storelens.books.token_book import new_token
from storelens.config import Config

ADMIN = new_token()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, prepared_models_dir):
    tmp = tmp_path_factory.mktemp("fuzz")
    config = Config.model_validate({
        "store": {"id": "fuzz-01", "timezone": "Pacific/Chatham"}, "cameras": [{"id": "entrance", "source": "x"}],
        "models": {"dir": str(prepared_models_dir)}, "gallery": {"dir": str(tmp / "gallery")},
        "api": {"photos_dir": str(tmp / "photos"), "max_upload_bytes": 2 * 1024 * 1024},
    })  # fmt: skip
    services = build_services(config, StoreBooks(f"sqlite:///{tmp / 'events.sqlite'}"))
    services.books.tokens.add_token(ADMIN, "fuzzer", "admin")
    services.failed_tokens.limit = 10**9  # the fuzzer's own token is valid; nothing to rate-limit here
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(services))
    services.close()


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_error_and_responses_as_documented(api_schema) -> None:
    """Every operation, up to 25 generated requests each (schemathesis's strategies run by hypothesis)."""
    tried: dict[str, int] = {}
    for operation in operations(api_schema):

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case) -> None:
            tried[case.operation.label] = tried.get(case.operation.label, 0) + 1
            case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"},
                                   checks=[not_a_server_error, response_schema_conformance])  # fmt: skip

        call()
    assert len(tried) >= 12 and sum(tried.values()) >= 100, tried
    print(f"schemathesis: {sum(tried.values())} requests over {len(tried)} operations, 0 server errors")
