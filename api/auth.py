"""The store API's roles: ``associate`` (notifications, member lookup) and ``admin`` (everything).

The token check itself is the web kit's (:mod:`storelens.web.auth`), shared with head office.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request

from storelens.api.services import Services
from storelens.books.event_log import EventLog
from storelens.books.token_book import TokenBook
from storelens.web.auth import Lookup, Principal, principal, role_check
from storelens.web.ratelimit import FailedTokens

Role = Literal["associate", "admin"]


def get_services(request: Request) -> Services:
    """The app's shared services."""
    services: Services = request.app.state.services
    return services


def get_events(request: Request) -> EventLog:
    """The app's event log."""
    return get_services(request).books.events


def get_tokens(request: Request) -> TokenBook:
    """The app's device tokens."""
    return get_services(request).books.tokens


def principal_of(book: TokenBook, token: str | None) -> Principal | None:
    """The principal a token stands for, or None."""
    found = book.token(token) if token else None
    return principal(found, "associate") if found is not None else None


def _gate(request: Request) -> tuple[FailedTokens, Lookup]:
    svc = get_services(request)
    return svc.failed_tokens, svc.books.tokens.token


require = role_check("associate", _gate)
Associate = Annotated[Principal, require("associate")]
Admin = Annotated[Principal, require("admin")]
Events = Annotated[EventLog, Depends(get_events)]
Tokens = Annotated[TokenBook, Depends(get_tokens)]
Svc = Annotated[Services, Depends(get_services)]
