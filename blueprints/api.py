"""The admin HTTP API behind one catch-all HTTP trigger, with the durable client handed to FastAPI.

The route is anonymous at the Functions level because the API authenticates every request itself
(Entra ID bearer tokens, see ``shared.api.auth``); ``/api`` is the host's default route prefix, and
the FastAPI routes carry it too, so paths are the same here and under uvicorn.
"""

from __future__ import annotations

import functools
import json
import logging

import azure.durable_functions as df
import azure.functions as func

from shared.api.app import create_app
from shared.api.auth import KeySet, TokenVerifier
from shared.api.context import DURABLE_CLIENT, ApiContext
from shared.api.settings import CLOCK_SKEW_SECONDS, JWKS_CACHE_SECONDS, JWKS_MIN_REFRESH_SECONDS, ApiSettings
from shared.errors import SettingsError
from shared.runtime import get_runtime

bp = df.Blueprint()
LOG = logging.getLogger("segment_export.api")


@functools.cache
def _asgi() -> func.AsgiMiddleware:
    """Built on first request: app settings and clients are read once per worker."""
    runtime = get_runtime()
    settings = ApiSettings()
    keys = KeySet(
        settings.api_jwks_url,
        ttl=JWKS_CACHE_SECONDS,
        min_refresh=JWKS_MIN_REFRESH_SECONDS,
    )
    verifier = TokenVerifier(
        keys, audience=settings.api_audience, issuer=settings.api_issuer, leeway=CLOCK_SKEW_SECONDS
    )
    context = ApiContext(
        settings=settings,
        store=runtime.store,
        segments=runtime.segments,
        secrets=runtime.secrets,
        verifier=verifier,
        settings_problems=len(settings.problems()),
    )
    return func.AsgiMiddleware(create_app(context))


@bp.function_name(name="admin_api")
@bp.route(
    route="{*path}",
    auth_level=func.AuthLevel.ANONYMOUS,
    methods=[func.HttpMethod.GET, func.HttpMethod.POST, func.HttpMethod.PUT, func.HttpMethod.DELETE],
)
@bp.durable_client_input(client_name="client")
async def admin_api(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, context: func.Context
) -> func.HttpResponse:
    # A context variable, not shared app state: concurrent invocations each see their own client.
    try:
        middleware = _asgi()
    except SettingsError as exc:
        # App settings are broken: say so by count only (health) or as a problem, never a stack trace.
        problems = max(1, str(exc).count(";") + 1)
        LOG.error("admin API not started: %s", exc)
        if req.url.rstrip("/").endswith("/api/health"):
            body = {"status": "degraded", "settings_problems": problems}
            return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
        problem = {"type": "about:blank", "title": "Service unavailable", "status": 503, "detail": "not configured"}
        return func.HttpResponse(json.dumps(problem), status_code=503, mimetype="application/problem+json")
    token = DURABLE_CLIENT.set(client)
    try:
        response: func.HttpResponse = await middleware.handle_async(req, context)
        return response
    finally:
        DURABLE_CLIENT.reset(token)
