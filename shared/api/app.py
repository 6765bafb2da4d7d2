"""The FastAPI application: routes, problem documents, the gate, and the OpenAPI document.

Every route lives under ``/api`` — the Functions host's default route prefix — so the same paths
serve behind the HTTP trigger (whose catch-all hands the full path to the ASGI app) and under uvicorn.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shared.api import connections, exports, oauth, runs
from shared.api.context import ApiContext
from shared.api.gate import Gate
from shared.api.problems import PROBLEM_JSON, install
from shared.api.schemas import Health

TITLE = "Segment export admin API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Connections (credentials in Key Vault, write-only), exports, on-demand runs and run history. "
    "Every endpoint but /api/health needs a Microsoft Entra ID bearer token with the app role "
    "Exports.Admin or Exports.Contributor. Configuration writes need If-Match. Errors are RFC 9457 "
    "problem documents."
)


def make_app() -> FastAPI:
    """The routes, without the gate or any dependency: what the OpenAPI document is generated from."""
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    install(app)
    app.include_router(connections.router)
    app.include_router(exports.router)
    app.include_router(runs.router)
    app.include_router(oauth.router)

    @app.get("/api/health", response_model=Health, tags=["health"], summary="Liveness (anonymous; reveals nothing)")
    async def health() -> Health:
        context: ApiContext | None = getattr(app.state, "context", None)
        problems = context.settings_problems if context is not None else 0
        return Health(status="degraded" if problems else "ok", settings_problems=problems)

    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        # Problem answers are application/problem+json (RFC 9457), not application/json.
        for path in document.get("paths", {}).values():
            for operation in path.values():
                for status, answer in operation.get("responses", {}).items():
                    content = answer.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        app.openapi_schema = document
    return app.openapi_schema


def create_app(context: ApiContext) -> FastAPI:
    app = make_app()
    app.state.context = context
    app.add_middleware(Gate, context=context)
    return app
