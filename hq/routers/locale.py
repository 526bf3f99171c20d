"""Head office's locale and the console's messages in it: read before signing in."""

from __future__ import annotations

from fastapi import APIRouter

from storelens.hq.access import Hq
from storelens.web.locale import Lang, PageLocale, page_locale_of, translator_or_422

router = APIRouter(prefix="/locale", tags=["locale"])


@router.get("", response_model=PageLocale)
def page_locale(hq: Hq, lang: Lang = None) -> PageLocale:
    """Head office's locale (or ``lang``), its zone and currency, and every message of its catalogue."""
    asked = lang or hq.config.locale
    return page_locale_of(translator_or_422(asked), hq.config.timezone, hq.config.currency, hq.config.id, asked)
