"""Bearer-token auth with two roles: ``associate`` (notifications, member lookup) and ``admin`` (everything)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from storelens.api.event_store import EventStore
from storelens.api.ratelimit import FailedTokens
from storelens.api.services import Services
from storelens.api.token_store import TokenStore

Role = Literal["associate", "admin"]
bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    name: str
    role: Role


def new_token() -> str:
    """A random device token (shown once, stored hashed)."""
    return secrets.token_urlsafe(32)


def get_services(request: Request) -> Services:
    """The app's shared services."""
    services: Services = request.app.state.services
    return services


def get_events(request: Request) -> EventStore:
    """The app's events store."""
    return get_services(request).books.events


def get_tokens(request: Request) -> TokenStore:
    """The app's device tokens."""
    return get_services(request).books.tokens


def principal_of(store: TokenStore, token: str | None) -> Principal | None:
    """The principal a token stands for, or None."""
    found = store.token(token) if token else None
    if found is None:
        return None
    return Principal(found[0], "admin" if found[1] == "admin" else "associate")


def bearer_of(
    request: Request, failed: FailedTokens, lookup: Callable[[str], tuple[str, str] | None], creds: Any
) -> tuple[str, str]:
    """The (name, role) of a request's bearer token; shared by the store API and the chain API.

    Raises:
        HTTPException: 429 after too many refused tokens from its address; 401 without a token or with an
            unknown one (counted).
    """
    client = request.client.host if request.client else "unknown"
    wait = failed.blocked_for(client)
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
    found = lookup(creds.credentials)
    if found is None:
        failed.failed(client, "unknown token")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return found


def require(role: Role) -> object:
    """A dependency: 401 without a valid token, 403 with a token of a role that may not do this."""

    def check(
        request: Request,
        svc: Annotated[Services, Depends(get_services)],
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        name, found = bearer_of(request, svc.failed_tokens, svc.books.tokens.token, creds)
        who = Principal(name, "admin" if found == "admin" else "associate")
        if role == "admin" and who.role != "admin":
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {who.role} role may not do this; admin only")
        return who

    return Depends(check)


Associate = Annotated[Principal, require("associate")]
Admin = Annotated[Principal, require("admin")]
Events = Annotated[EventStore, Depends(get_events)]
Tokens = Annotated[TokenStore, Depends(get_tokens)]
Svc = Annotated[Services, Depends(get_services)]
