"""Head office's locale and the console's messages in it: read before signing in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from storelens.api.routers.locale import PageLocale
from storelens.hq.access import Hq
from storelens.i18n import LOCALE_PATTERN, Translator

router = APIRouter(prefix="/locale", tags=["locale"])


@router.get("", response_model=PageLocale)
def page_locale(
    hq: Hq,
    lang: Annotated[str | None, Query(pattern=LOCALE_PATTERN, max_length=35, description="another locale")] = None,
) -> PageLocale:
    """Head office's locale (or ``lang``), its zone and currency, and every message of its catalogue."""
    try:
        tr = Translator(lang or hq.config.locale)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"lang: {exc}") from None
    return PageLocale(
        locale=tr.locale,
        bcp47=tr.locale.replace("_", "-"),
        language=tr.language,
        timezone=hq.config.timezone,
        currency=hq.config.currency,
        store_name=hq.config.id,
        messages=tr.messages(),
    )
