"""The chain API's app factory: one router per resource under /api/v1, OpenAPI at /openapi.json.

The head-office console is served at /console (an analyst or admin token): the web kit's console shell with
head office's parts, its script and the kit's shared script and style, from this box: no CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from storelens.hq.access import HqServices
from storelens.hq.routers import boxes, locale, member_platform, members, reports
from storelens.web.pages import page_of, serve_pages

CONSOLE = Path(__file__).with_name("static") / "console.html"


def create_hq_app(hq: HqServices) -> FastAPI:
    """Build the chain API around head office's services."""
    app = FastAPI(title=f"StoreLens chain API ({hq.config.id})", version="1", docs_url=None)
    app.state.hq = hq
    serve_pages(app, CONSOLE.parent)
    for router in (reports.router, boxes.router, members.router, member_platform.router, locale.router):
        app.include_router(router, prefix="/api/v1")

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    def console() -> HTMLResponse:
        """The head-office console."""
        return HTMLResponse(page_of(CONSOLE))

    return app
