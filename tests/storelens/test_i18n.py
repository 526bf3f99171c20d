"""Messages and formats in the store's locale: catalogue choice, CLDR formats, placeholders."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from storelens.i18n import LANGUAGES, Translator, catalogue_path, language_of

# locale asked for, the catalogue it reads
LANGUAGE_CASES = [("fr_FR", "fr"), ("fr-CA", "fr"), ("zh_Hans_CN", "zh_Hans"), ("zh_CN", "zh_Hans"), ("zh", "zh_Hans"),
                  ("zh_TW", "en"), ("en_GB", "en"), ("de_DE", "en")]  # fmt: skip


@pytest.mark.parametrize(("locale", "language"), LANGUAGE_CASES)
def test_a_locale_reads_its_language_or_english(locale: str, language: str) -> None:
    assert language_of(locale) == language


@pytest.mark.parametrize("locale", ["xx_YY", "", "fr_FR_toolong_variant!"])
def test_an_unknown_locale_is_refused_with_its_name(locale: str) -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        Translator(locale)


ARRIVAL = datetime(2026, 12, 2, 9, 41, tzinfo=UTC)  # 10:41 in Paris, 17:41 in Shanghai
# locale, zone, time, day, number 1234.5, percent 0.167
FORMAT_CASES = [
    ("fr_FR", "Europe/Paris", "10:41", "2 déc.", "1\u202f234,5", "16,7\u00a0%"),
    ("zh_Hans_CN", "Asia/Shanghai", "17:41", "12月2日", "1,234.5", "16.7%"),
    ("en_US", "America/New_York", "4:41\u202fAM", "Dec 2", "1,234.5", "16.7%"),
    ("en_GB", "Europe/London", "09:41", "2 Dec", "1,234.5", "16.7%"),
]


@pytest.mark.parametrize(("locale", "zone", "clock", "day", "number", "percent"), FORMAT_CASES)
def test_times_numbers_and_percentages_are_written_as_the_locale_writes_them(locale, zone, clock, day, number,
                                                                             percent) -> None:  # fmt: skip
    tr = Translator(locale, ZoneInfo(zone))
    assert tr.time(ARRIVAL) == clock and tr.day(ARRIVAL) == day
    assert tr.number(1234.5) == number
    assert tr.percent(0.1666, decimals=1) == percent


# language, a source message, words its translation holds
MESSAGE_CASES = [
    ("fr", "Visitor counts are kept {kept} days.", "Les comptages de visiteurs sont conservés 30 jours."),
    ("zh_Hans", "Visitor counts are kept {kept} days.", "访客统计数据保存 30 天。"),
    ("en", "Visitor counts are kept {kept} days.", "Visitor counts are kept 30 days."),
]


@pytest.mark.parametrize(("locale", "message", "expected"), MESSAGE_CASES)
def test_a_message_is_translated_and_its_placeholders_filled(locale: str, message: str, expected: str) -> None:
    assert Translator(locale).gettext(message, kept=30) == expected


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_each_language_ships_a_catalogue_the_pages_can_read(language: str) -> None:
    assert catalogue_path(language).is_file()
    messages = Translator(language).messages()
    assert len(messages) > 50 and all(text and text != "" for text in messages.values())
    assert Translator("en").messages() == {}


@pytest.mark.parametrize(
    ("locale", "n", "expected"),
    [("fr_FR", 0, "oui (0 photo)"), ("fr_FR", 1, "oui (1 photo)"), ("fr_FR", 2, "oui (2 photos)"),
     ("fr_FR", 1_000_000, "oui (1000000 de photos)"), ("zh_Hans_CN", 1, "是（1 张照片）"),
     ("zh_Hans_CN", 5, "是（5 张照片）"),
     ("en_GB", 1, "yes (1 photo)"), ("en_GB", 0, "yes (0 photos)")],
)  # fmt: skip
def test_plural_forms_follow_each_languages_rule(locale: str, n: int, expected: str) -> None:
    tr = Translator(locale)
    assert tr.ngettext("yes ({n} photo)", "yes ({n} photos)", n) == expected
    if tr.language != "en":  # what a page gets: each CLDR category's form, picked by Intl.PluralRules
        forms = tr.plurals()["yes ({n} photo)"]
        assert set(forms) == ({"one", "many", "other"} if tr.language == "fr" else {"other"})
