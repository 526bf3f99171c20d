"""Bearer tokens on both tiers' APIs: one check of a request's token and one ``require(role)`` for each tier.

A tier has two roles, a lesser one (the store's ``associate``, head office's ``analyst``) and ``admin``; a
dependency made by :func:`role_check` answers 429 after too many refused tokens from an address, 401 without a
valid token, and 403 where the lesser role asks for what only an admin may do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from storelens.web.ratelimit import FailedTokens

bearer = HTTPBearer(auto_error=False)
Lookup = Callable[[str], tuple[str, str] | None]  # a token -> its (name, role), None when unknown


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and its role on this tier."""

    name: str
    role: str


def principal(found: tuple[str, str], lesser: str) -> Principal:
    """The principal of a token's (name, role): ``admin``, or the tier's lesser role for any other role."""
    name, role = found
    return Principal(name, "admin" if role == "admin" else lesser)


def bearer_of(request: Request, failed: FailedTokens, lookup: Lookup, creds: Any) -> tuple[str, str]:
    """The (name, role) of a request's bearer token.

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


def role_check(lesser: str, gate: Callable[[Request], tuple[FailedTokens, Lookup]]) -> Callable[[str], Any]:
    """A tier's ``require(role)``: ``gate`` gives the app's refused-token counter and its token lookup.

    Args:
        lesser: the tier's role below admin (any token whose role is not ``admin`` acts as it).
        gate: the request -> (the app's refused-token counter, the app's token lookup).
    """

    def require(role: str) -> Any:
        def check(
            request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
        ) -> Principal:
            failed, lookup = gate(request)
            who = principal(bearer_of(request, failed, lookup, creds), lesser)
            if role == "admin" and who.role != "admin":
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {who.role} role may not do this; admin only")
            return who

        return Depends(check)

    return require
