"""The pages' locale: what a page reads before signing in, and the one ``?lang=`` type of both tiers."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Query, status
from pydantic import BaseModel, Field

from storelens.i18n import LOCALE_PATTERN, OFFERED, SCRIPT_FONTS, Translator, drawable, drawable_translator


class PageLocale(BaseModel):
    """How the pages speak and write in this store."""

    locale: str = Field(description="CLDR locale (store.locale, or the lang asked for)")
    bcp47: str = Field(description="The same locale as the browser's Intl names it (fr-FR, zh-Hans-CN)")
    language: str = Field(description="The catalogue used: en, fr or zh_Hans")
    timezone: str = Field(description="store.timezone: times on the pages are the store's")
    currency: str
    store_name: str
    messages: dict[str, str] = Field(description="English message -> its translation (empty in English)")
    languages: dict[str, str] = Field(
        default_factory=dict, description="The languages a page may switch to: locale -> its name in itself"
    )
    fallback: str = Field(default="", description="Why the locale asked for is shown in English (a missing font)")
    plurals: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="A message with plural forms (by its English singular) -> each form by CLDR plural category",
    )


# A page's ?lang=: the same bounds on every route that draws words (store API and head office)
Lang = Annotated[
    str | None,
    Query(pattern=LOCALE_PATTERN, max_length=35, description="words in this locale; default the configured one"),
]


def translator_or_422(locale: str, timezone: str | None = None) -> Translator:
    """A translator for a page's ``lang`` (or the configured locale); 422 for a locale CLDR does not know.

    A language whose script this machine cannot draw (its font missing) falls back to English
    (:func:`fallback_of` says why): a chart never shows boxes for words.
    """
    try:
        return drawable_translator(locale, ZoneInfo(timezone) if timezone else None)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"lang: {exc}") from None


def fallback_of(locale: str) -> str:
    """Why ``locale`` is shown in English, or "" when it is not (the font its script needs is missing)."""
    try:
        language = Translator(locale).language
    except ValueError:
        return ""
    if drawable(language):
        return ""
    return Translator().gettext(
        "{locale} needs the font {font}, which this machine lacks (Debian: fonts-wqy-microhei): shown in English.",
        locale=locale,
        font=SCRIPT_FONTS[language],
    )


def offered_languages() -> dict[str, str]:
    """The languages a page may switch to (those this machine can draw), each named in itself."""
    from babel import Locale

    return {
        loc: Locale.parse(loc).get_display_name(loc) or loc for loc in OFFERED if drawable(Translator(loc).language)
    }


def page_locale_of(tr: Translator, timezone: str, currency: str, name: str, asked: str = "") -> PageLocale:
    """What a page reads before signing in: the locale, its Intl name, the zone, the currency and messages.

    ``asked``: the locale the page asked for, when the translator fell back from it (the page says why).
    """
    return PageLocale(locale=tr.locale, bcp47=tr.locale.replace("_", "-"), language=tr.language, timezone=timezone,
                      currency=currency, store_name=name, messages=tr.messages(), plurals=tr.plurals(),
                      languages=offered_languages(), fallback=fallback_of(asked) if asked else "")  # fmt: skip
