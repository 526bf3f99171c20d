"""The chain API's app factory: one router per resource under /api/v1, OpenAPI at /openapi.json.

The head-office console is served at /console (an analyst or admin token), with the store pages' shared
script and style, from this box: no CDN.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from storelens.api.app import PAGE, SECURITY_HEADERS
from storelens.hq.access import HqServices
from storelens.hq.routers import boxes, locale, members, reports

CONSOLE = Path(__file__).with_name("static") / "console.html"


def create_hq_app(hq: HqServices) -> FastAPI:
    """Build the chain API around head office's services."""
    app = FastAPI(title=f"StoreLens chain API ({hq.config.id})", version="1", docs_url=None)
    app.state.hq = hq

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """The store API's security headers on every response; chain data is never cached."""
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(RequestValidationError)
    async def one_error_shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Validation errors as every other error: {"detail": "field: reason; ..."}."""
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(parts)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    for router in (reports.router, boxes.router, members.router, locale.router):
        app.include_router(router, prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=str(PAGE.parent)), name="static")  # the store pages' script, style

    @app.get("/console", response_class=FileResponse, include_in_schema=False)
    def console() -> FileResponse:
        """The head-office console."""
        return FileResponse(CONSOLE, media_type="text/html")

    return app
