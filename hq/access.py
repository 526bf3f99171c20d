"""Head office's services, and bearer tokens with two roles: ``analyst`` and ``admin``.

An analyst reads reports and box status; an admin also members and erasures. Tokens are made with
``storelens hq token create`` and kept hashed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from storelens.books.event_log import EventLog
from storelens.books.token_book import TokenBook
from storelens.config import HqConfig
from storelens.hq.chain_reports import ChainReports
from storelens.hq.crm import CrmOutbox
from storelens.hq.registry import ChainMembers
from storelens.web.auth import Lookup, Principal, role_check
from storelens.web.ratelimit import FailedTokens


@dataclass
class HqServices:
    """What the chain API's routes use."""

    config: HqConfig
    events: EventLog
    tokens: TokenBook
    members: ChainMembers
    reports: ChainReports
    subscribed: threading.Event
    crm: CrmOutbox | None = None  # the member platform's deliveries, shown to admins
    failed_tokens: FailedTokens = field(default_factory=FailedTokens)


def get_hq(request: Request) -> HqServices:
    """The app's services."""
    services: HqServices = request.app.state.hq
    return services


def _gate(request: Request) -> tuple[FailedTokens, Lookup]:
    hq = get_hq(request)

    def lookup(token: str) -> tuple[str, str] | None:
        found = hq.tokens.token(token)
        return found if found is not None and found[1] in ("analyst", "admin") else None

    return hq.failed_tokens, lookup


require = role_check("analyst", _gate)
Analyst = Annotated[Principal, require("analyst")]
HqAdmin = Annotated[Principal, require("admin")]
Hq = Annotated[HqServices, Depends(get_hq)]
