"""Head office's services, and bearer tokens with two roles: ``analyst`` and ``admin``.

An analyst reads reports and box status; an admin also members and erasures. Tokens are made with
``storelens hq token create`` and kept hashed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from storelens.api.auth import bearer_of
from storelens.api.event_store import EventStore
from storelens.api.ratelimit import FailedTokens
from storelens.api.token_store import TokenStore
from storelens.config import HqConfig
from storelens.hq.chain_reports import ChainReports
from storelens.hq.registry import ChainMembers

HqRole = Literal["analyst", "admin"]
bearer = HTTPBearer(auto_error=False)


@dataclass
class HqServices:
    """What the chain API's routes use."""

    config: HqConfig
    store: EventStore
    tokens: TokenStore
    members: ChainMembers
    reports: ChainReports
    subscribed: threading.Event
    failed_tokens: FailedTokens = field(default_factory=FailedTokens)


@dataclass(frozen=True)
class HqPrincipal:
    """Who is calling."""

    name: str
    role: HqRole


def get_hq(request: Request) -> HqServices:
    """The app's services."""
    services: HqServices = request.app.state.hq
    return services


def require(role: HqRole) -> object:
    """A dependency: 401 without a valid token, 403 where an analyst asks for what only an admin may see."""

    def check(
        request: Request,
        hq: Annotated[HqServices, Depends(get_hq)],
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> HqPrincipal:
        def lookup(token: str) -> tuple[str, str] | None:
            found = hq.tokens.token(token)
            return found if found is not None and found[1] in ("analyst", "admin") else None

        name, found = bearer_of(request, hq.failed_tokens, lookup, creds)
        who = HqPrincipal(name, "admin" if found == "admin" else "analyst")
        if role == "admin" and who.role != "admin":
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the analyst role may not do this; admin only")
        return who

    return Depends(check)


Analyst = Annotated[HqPrincipal, require("analyst")]
HqAdmin = Annotated[HqPrincipal, require("admin")]
Hq = Annotated[HqServices, Depends(get_hq)]
