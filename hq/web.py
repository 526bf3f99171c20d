"""The chain API's app factory: one router per resource under /api/v1, OpenAPI at /openapi.json."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from storelens.hq.access import HqServices
from storelens.hq.routers import boxes, members, reports


def create_hq_app(hq: HqServices) -> FastAPI:
    """Build the chain API around head office's services."""
    app = FastAPI(title=f"StoreLens chain API ({hq.config.id})", version="1", docs_url=None)
    app.state.hq = hq

    @app.exception_handler(RequestValidationError)
    async def one_error_shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Validation errors as every other error: {"detail": "field: reason; ..."}."""
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(parts)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    for router in (reports.router, boxes.router, members.router):
        app.include_router(router, prefix="/api/v1")
    return app
