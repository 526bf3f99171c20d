"""The store API: an app factory with one router per resource under /api/v1.

The associate's iPad page is served at /, the store manager's console at /console, and OpenAPI at /docs
(Swagger UI from the ``swagger-ui-bundle-v2`` package: it works on a box with no internet). Every response
carries security headers; a request body over ``api.max_upload_bytes`` is refused with 413 before it is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from storelens.api.routers import (
    cameras,
    events,
    health,
    imports,
    live,
    locale,
    member_imports,
    member_list,
    members,
    notifications,
    privacy,
    reports,
    today,
    tokens,
)
from storelens.api.services import Services
from storelens.web.pages import hashed_inline_scripts, page_of, serve_pages

PAGE = Path(__file__).with_name("static") / "index.html"


def create_app(services: Services, title: str = "StoreLens store API") -> FastAPI:
    """Build the app around its services; the live hub binds to the server's loop at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.hub.attach(asyncio.get_running_loop())
        yield

    app = FastAPI(title=title, version="1", docs_url=None, openapi_url="/openapi.json", lifespan=lifespan)
    app.state.services = services

    serve_pages(app, PAGE.parent, max_body=services.config.api.max_upload_bytes)
    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI, served from this box."""
        return hashed_inline_scripts(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{title} - docs",
                swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                swagger_css_url="/docs/assets/swagger-ui.css",
                swagger_favicon_url="/docs/assets/favicon-32x32.png",
            )
        )

    for router in (
        health.router,
        events.router,
        reports.router,
        tokens.router,
        members.router,
        member_list.router,
        member_imports.router,
        notifications.router,
        today.router,
        live.router,
        imports.router,
        locale.router,
        privacy.router,
        cameras.router,
    ):
        app.include_router(router, prefix="/api/v1")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        """The associate's iPad page."""
        return HTMLResponse(page_of(PAGE))

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    def console() -> HTMLResponse:
        """The store manager's console (an admin token)."""
        return HTMLResponse(page_of(PAGE.with_name("console.html")))

    def openapi() -> dict[str, Any]:
        """The OpenAPI document, with errors documented as they are sent: ``{"detail": "..."}``."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = schema.get("components", {}).get("schemas", {})
            schemas.pop("ValidationError", None)
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = ERROR_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "What is wrong"}},
    "required": ["detail"],
}
