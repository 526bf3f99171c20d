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

from storelens.api.chain_members import ChainMembers
from storelens.api.chain_reports import ChainReports
from storelens.api.ratelimit import FailedTokens
from storelens.api.store import EventStore
from storelens.config import HqConfig

HqRole = Literal["analyst", "admin"]
bearer = HTTPBearer(auto_error=False)


@dataclass
class HqServices:
    """What the chain API's routes use."""

    config: HqConfig
    store: EventStore
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
        client = request.client.host if request.client else "unknown"
        wait = hq.failed_tokens.blocked_for(client)
        if wait > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many refused tokens from this address; try again in {wait:.0f} s",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        found = hq.store.token(creds.credentials)
        if found is None or found[1] not in ("analyst", "admin"):
            hq.failed_tokens.failed(client, "unknown token")
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        who = HqPrincipal(found[0], "admin" if found[1] == "admin" else "analyst")
        if role == "admin" and who.role != "admin":
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the analyst role may not do this; admin only")
        return who

    return Depends(check)


Analyst = Annotated[HqPrincipal, require("analyst")]
HqAdmin = Annotated[HqPrincipal, require("admin")]
Hq = Annotated[HqServices, Depends(get_hq)]
