"""``/api/v1/locale``: the store's locale and its pages' messages, before signing in."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from storelens.api.app import create_app
from storelens.api.services import Services
from storelens.config import Config

# store.locale, ?lang=, status, locale answered, the translation of "Find a member"
CASES = [
    ("fr_FR", None, 200, "fr_FR", "Trouver un membre"),
    ("fr_FR", "zh_Hans_CN", 200, "zh_Hans_CN", "查找会员"),
    ("zh_Hans_CN", "en_GB", 200, "en_GB", None),  # English: no translations sent, the page keeps its words
    ("fr_FR", "xx_YY", 422, None, None),
    ("fr_FR", "<script>", 422, None, None),
]


@pytest.mark.parametrize(("store_locale", "lang", "code", "locale", "find"), CASES)
def test_the_pages_get_the_store_s_language_without_a_token(store, store_locale, lang, code, locale, find) -> None:
    config = Config.model_validate({"store": {"id": "paris-01", "locale": store_locale, "timezone": "Europe/Paris"},
                                    "cameras": [{"id": "entrance", "source": "0"}]})  # fmt: skip
    client = TestClient(create_app(Services(config, store)))
    answer = client.get("/api/v1/locale", params={"lang": lang} if lang else {})
    assert answer.status_code == code, answer.text
    if code != 200:
        assert set(answer.json()) == {"detail"} and "lang" in answer.json()["detail"]
        return
    body = answer.json()
    assert body["locale"] == locale and body["timezone"] == "Europe/Paris" and body["currency"] == "EUR"
    assert body["bcp47"] == locale.replace("_", "-")
    assert body["messages"].get("Find a member") == find
    assert set(body["languages"]) == {"en_GB", "fr_FR", "zh_Hans_CN"} and body["fallback"] == ""
    assert body["languages"]["fr_FR"].startswith("français") and body["languages"]["zh_Hans_CN"].startswith("中文")


def test_a_language_whose_font_is_missing_falls_back_to_english_and_says_why(store, monkeypatch) -> None:
    """Without the Chinese font (Debian's fonts-wqy-microhei) a chart would draw boxes: Chinese is not offered,
    a page asking for it reads English, and says why."""
    import storelens.web.locale as page_locale

    monkeypatch.setattr(page_locale, "drawable", lambda language: language != "zh_Hans")
    monkeypatch.setattr("storelens.i18n.drawable", lambda language: language != "zh_Hans")
    config = Config.model_validate({"store": {"id": "paris-01", "locale": "zh_Hans_CN"},
                                    "cameras": [{"id": "entrance", "source": "0"}]})  # fmt: skip
    body = TestClient(create_app(Services(config, store))).get("/api/v1/locale").json()
    assert body["locale"] == "en" and body["messages"] == {} and "zh_Hans_CN" not in body["languages"]
    assert "needs the font WenQuanYi Micro Hei" in body["fallback"] and "shown in English" in body["fallback"]
