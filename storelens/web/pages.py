"""What both tiers serve their pages with: security headers, one error shape, static assets, the consoles' shell.

The kit's assets (``pages.js``, ``console.css``) are served at ``/static/kit/``, a tier's own at ``/static/``.
A page (the iPad's, the store console, head office's console) is the shell (``static/page-shell.html``) with each
``<!-- slot:NAME -->`` replaced by the page's ``<!-- fill:NAME -->`` part: the document, the sign-in and the
header's frame are written once for every page.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from storelens.errors import StoreLensError
from storelens.i18n import N_

KIT = Path(__file__).with_name("static")
SHELL = KIT / "page-shell.html"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # scripts only from this server's files (no inline script, no eval): an injected <script> never runs
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def hashed_inline_scripts(page: HTMLResponse) -> HTMLResponse:
    """A page made by a library with inline scripts (FastAPI's Swagger UI): its policy allows exactly those.

    Each inline script is allowed by its SHA-256 (CSP level 2 hashes) instead of ``'unsafe-inline'``, so nothing
    injected into it runs either.
    """
    text = bytes(page.body).decode("utf-8")
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode("utf-8")).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(text)
    ]
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    page.headers["Content-Security-Policy"] = policy.replace(
        "script-src 'self'", " ".join(["script-src 'self'", *hashes])
    )
    return page


class Shown(HTTPException):
    """An error a person reads: its English words, and its catalogued message and values.

    A page says it in its reader's language from ``{"detail", "message", "params"}`` (the API's one error shape,
    two fields more).

    Args:
        status_code: the HTTP status.
        message: a catalogued message (English source, marked ``N_``), ``{named}`` placeholders.
        detail: the English words when they say more than the message (every conflict, not the first).
        params: the message's values.
    """

    def __init__(self, status_code: int, message: str, detail: str = "", **params: object) -> None:
        self.message, self.params = message, {k: str(v) for k, v in params.items()}
        super().__init__(status_code, detail or message.format(**self.params))


def refused(status_code: int, exc: StoreLensError, detail: str | None = None) -> HTTPException:
    """A domain error as an HTTP one: :class:`Shown` where it carries a catalogued message."""
    words = str(exc) if detail is None else detail
    if exc.message:
        return Shown(status_code, exc.message, words, **exc.params)
    return HTTPException(status_code, words)


_FILL = re.compile(r"^<!-- fill:([a-z-]+) -->\n", re.MULTILINE)


@cache
def page_of(fill: Path) -> str:
    """The shell with a page's parts in its slots (read once per process).

    Raises:
        ValueError: a slot of the shell that the page's file does not fill, or a part the shell has no slot for.
    """
    pieces = _FILL.split(fill.read_text(encoding="utf-8"))
    parts = {name: body.rstrip("\n") for name, body in zip(pieces[1::2], pieces[2::2], strict=True)}
    page = SHELL.read_text(encoding="utf-8")
    slots = set(re.findall(r"<!-- slot:([a-z-]+) -->", page))
    if slots != set(parts):
        raise ValueError(f"{fill.name}: fills {sorted(parts)}, the shell has slots {sorted(slots)}")
    for name, body in parts.items():
        page = page.replace(f"<!-- slot:{name} -->", body)
    return page


def serve_pages(app: FastAPI, own_static: Path, max_body: int | None = None) -> None:
    """Security headers on every response (``no-store`` under ``/api/``), one error shape, the static assets.

    Args:
        app: the tier's app.
        own_static: the tier's own static folder, served at ``/static/``.
        max_body: refuse a request whose declared body is longer (413), None for no limit.
    """

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Refuse an oversized body from its declared length; add the security headers to every response."""
        declared = request.headers.get("content-length", "")
        if max_body is not None and declared.isdigit() and int(declared) > max_body:
            too_large = N_("The request is {size} bytes; at most {limit} are accepted.")
            values = {"size": f"{int(declared):,}", "limit": f"{max_body:,}"}
            response: Response = JSONResponse(
                {"detail": too_large.format(**values), "message": too_large, "params": values},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            )
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():  # a page's own policy (hashed_inline_scripts) stays
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"  # member cards and chain data are not kept by browsers
        return response

    @app.exception_handler(Shown)
    async def said(request: Request, exc: Shown) -> JSONResponse:
        """A refusal a person reads: the English detail, and the message and values a page translates."""
        body = {"detail": exc.detail, "message": exc.message, "params": exc.params}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def one_error_shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Validation errors in the same shape as every other error: {"detail": "field: reason; ..."}."""
        parts = [
            f"body: not valid JSON ({e['msg']})"
            if e["type"] == "json_invalid"
            else f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(parts)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    app.mount("/static/kit", StaticFiles(directory=str(KIT)), name="kit")  # before /static: the longer prefix
    app.mount("/static", StaticFiles(directory=str(own_static)), name="static")
