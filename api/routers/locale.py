"""The store's locale and the pages' messages in it: the one route a page reads before signing in."""

from __future__ import annotations

from fastapi import APIRouter

from storelens.api.auth import Svc
from storelens.i18n import Translator
from storelens.web.locale import Lang, PageLocale, page_locale_of, translator_or_422

router = APIRouter(prefix="/locale", tags=["locale"])


def store_translator(svc: Svc, lang: str | None) -> Translator:
    """The store's translator (``store.locale``, its zone), or one for a page's ``lang`` in the same zone."""
    return svc.translator if lang is None else translator_or_422(lang, svc.config.store.timezone)


@router.get("", response_model=PageLocale)
def page_locale(svc: Svc, lang: Lang = None) -> PageLocale:
    """The store's locale (or ``lang``) and every message of its catalogue. No token: nothing here is private."""
    store = svc.config.store
    asked = lang or store.locale
    return page_locale_of(translator_or_422(asked), store.timezone, store.currency, store.name or store.id, asked)
