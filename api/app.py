"""The store API: an app factory with one router per resource under /api/v1.

The associate's iPad page is served at /, and OpenAPI at /docs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse

from storelens.api.routers import events, health, live, members, notifications, reports, today, tokens
from storelens.api.services import Services

PAGE = Path(__file__).with_name("static") / "index.html"


def create_app(services: Services, title: str = "StoreLens store API") -> FastAPI:
    """Build the app around its services; the live hub binds to the server's loop at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.hub.attach(asyncio.get_running_loop())
        yield

    app = FastAPI(title=title, version="1", docs_url="/docs", openapi_url="/openapi.json", lifespan=lifespan)
    app.state.services = services

    @app.exception_handler(RequestValidationError)
    async def one_error_shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Validation errors in the same shape as every other error: {"detail": "field: reason; ..."}."""
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(parts)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    for router in (
        health.router,
        events.router,
        reports.router,
        tokens.router,
        members.router,
        notifications.router,
        today.router,
        live.router,
    ):
        app.include_router(router, prefix="/api/v1")

    @app.get("/", response_class=FileResponse, include_in_schema=False)
    def page() -> FileResponse:
        """The associate's iPad page."""
        return FileResponse(PAGE, media_type="text/html")

    return app
