"""OAuth 2 sign-in for Mailchimp and Campaign Monitor (authorization-code grant).

Start: an admin asks for the vendor's authorize URL for one connection and is redirected there. The
``state`` is a short-lived HS256 JWT bound to the caller (``sub``) and the connection (``cid``), signed
with a key kept in Key Vault. The vendor sends the browser back to the admin UI (the registered
redirect URI) with ``code`` and ``state``; the UI posts both to the callback *with the admin's bearer
token* — so every endpoint stays authenticated — and the callback checks the state (signature,
expiry, same caller, first use), exchanges the code, stores the token in Key Vault and, for Mailchimp,
records the data centre's API host from the metadata endpoint.

Single use: the state's ``jti`` is claimed by creating ``oauth/states/{jti}.json`` with If-None-Match,
which only one request can do, on any instance.
"""

from __future__ import annotations

import logging
import secrets as random
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from destinations import destination_class
from shared.api.context import ApiContext
from shared.api.deps import Admin, Context, IdPath, blocking
from shared.api.documents import load_connection, save_connection
from shared.api.problems import ApiProblem, responses
from shared.api.schemas import ConnectionView, OAuthCallback, OAuthStarted
from shared.api.settings import OAUTH_STATE_TTL_SECONDS, OAuthVendor
from shared.errors import ConcurrencyConflict, NotFound
from shared.models import Connection

LOG = logging.getLogger("segment_export.api.oauth")
router = APIRouter(tags=["oauth"], responses=responses(400, 401, 403, 404, 413, 414, 422, 503))
STATE_ISSUER = "segment-export-api"
STATE_AUDIENCE = "oauth-state"


def _vendor(context: ApiContext, connection: Connection) -> OAuthVendor:
    vendor = context.settings.oauth_vendor(connection.vendor, context.oauth_endpoints)
    if vendor is None:
        raise ApiProblem(
            409,
            f"{destination_class(connection.vendor).display_name} connections use an API key, not OAuth",
            field="path.connection_id",
        )
    if not vendor.client_id:
        setting = f"EXPORT_{connection.vendor.upper()}_OAUTH_CLIENT_ID"
        raise ApiProblem(503, f"OAuth for {connection.vendor} is not configured ({setting})")
    return vendor


def _state_key(context: ApiContext) -> str:
    name = context.settings.api_oauth_state_key_secret
    try:
        return context.secrets.get(name).get_secret_value()
    except NotFound:
        # First use: the API makes its own signing key (it never leaves Key Vault and this process).
        key = random.token_urlsafe(48)
        context.secrets.set(name, SecretStr(key))
        return key


@router.get(
    "/api/connections/{connection_id}/oauth/start",
    status_code=302,
    response_model=OAuthStarted,
    responses=responses(409),
    summary="Redirect to the vendor's OAuth sign-in for this connection",
)
async def start(connection_id: IdPath, context: Context, principal: Admin) -> JSONResponse:
    connection, _ = await blocking(load_connection, context.store, connection_id)
    vendor = _vendor(context, connection)
    now = int(time.time())
    ttl = OAUTH_STATE_TTL_SECONDS
    claims = {
        "iss": STATE_ISSUER,
        "aud": STATE_AUDIENCE,
        "sub": principal.id,
        "cid": connection.id,
        "ven": connection.vendor,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
    }
    state = jwt.encode(claims, await blocking(_state_key, context), algorithm="HS256")
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": vendor.client_id,
        "redirect_uri": context.settings.api_oauth_redirect_uri,
        "state": state,
    }
    if connection.vendor == "campaign_monitor":
        query = {"type": "web_server", **query}
        query.pop("response_type")
    if vendor.scope:
        query["scope"] = vendor.scope
    url = f"{vendor.authorize_url}?{urlencode(query)}"
    LOG.info("OAuth sign-in for connection %s started by %s", connection.id, principal.name)
    body = OAuthStarted(authorize_url=url, expires_in=ttl)
    return JSONResponse(body.model_dump(), status_code=302, headers={"Location": url})


def _claims(context: ApiContext, state: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            state,
            _state_key(context),
            algorithms=["HS256"],
            audience=STATE_AUDIENCE,
            issuer=STATE_ISSUER,
            options={"require": ["exp", "jti", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise ApiProblem(400, "the sign-in took too long (state expired): start it again", field="body.state") from None
    except jwt.PyJWTError:
        raise ApiProblem(400, "the state is not one this API issued", field="body.state") from None
    return claims


def _claim_once(context: ApiContext, jti: str, connection_id: str) -> None:
    if not jti.isalnum() or len(jti) > 64:
        raise ApiProblem(400, "the state is not one this API issued", field="body.state")
    try:
        context.store.write_json(
            f"oauth/states/{jti}.json",
            {"connection_id": connection_id, "used_at": datetime.now(UTC).isoformat()},
            create_only=True,
        )
    except ConcurrencyConflict:
        raise ApiProblem(
            400, "this sign-in was already completed (state used): start it again", field="body.state"
        ) from None


async def _exchange(context: ApiContext, vendor: OAuthVendor, code: str) -> tuple[SecretStr, str | None]:
    """The access token and, for Mailchimp, the data centre's API host."""
    try:
        client_secret = await blocking(context.secrets.get, vendor.client_secret_name)
    except NotFound:
        raise ApiProblem(
            503, f"OAuth for {vendor.vendor} is not configured (Key Vault secret {vendor.client_secret_name!r})"
        ) from None
    form = {
        "grant_type": "authorization_code",
        "client_id": vendor.client_id,
        "client_secret": client_secret.get_secret_value(),
        "redirect_uri": context.settings.api_oauth_redirect_uri,
        "code": code,
    }
    try:
        async with context.http() as client:
            answer = await client.post(vendor.token_url, data=form, headers={"Accept": "application/json"})
            if answer.status_code in (400, 401, 403):
                raise ApiProblem(
                    400, f"{vendor.vendor} refused the authorization code: start the sign-in again", field="body.code"
                )
            answer.raise_for_status()
            token = answer.json().get("access_token")
            if not isinstance(token, str) or not token:
                raise ApiProblem(502, f"{vendor.vendor} answered the code exchange without an access token")
            api_host = None
            if vendor.metadata_url:
                metadata = await client.get(vendor.metadata_url, headers={"Authorization": f"OAuth {token}"})
                metadata.raise_for_status()
                endpoint = metadata.json().get("api_endpoint")
                if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
                    raise ApiProblem(502, f"{vendor.vendor}'s metadata named no API endpoint")
                api_host = endpoint.rstrip("/")
    except (httpx.HTTPError, ValueError, AttributeError):
        # The type only: httpx errors can quote the request, whose form holds the client secret.
        raise ApiProblem(502, f"{vendor.vendor}'s authorization server could not complete the sign-in") from None
    return SecretStr(token), api_host


@router.post(
    "/api/oauth/callback",
    response_model=ConnectionView,
    responses=responses(409, 502),
    summary="Complete the OAuth sign-in: exchange the code, store the token in Key Vault",
)
async def callback(body: OAuthCallback, context: Context, principal: Admin) -> ConnectionView:
    claims = await blocking(_claims, context, body.state)
    if claims.get("sub") != principal.id:
        raise ApiProblem(400, "this sign-in was started by someone else", field="body.state")
    connection_id = str(claims.get("cid", ""))
    await blocking(_claim_once, context, str(claims["jti"]), connection_id)
    connection, _ = await blocking(load_connection, context.store, connection_id)
    if connection.vendor != claims.get("ven"):
        raise ApiProblem(400, "the state names another vendor than the connection's", field="body.state")
    vendor = _vendor(context, connection)
    token, api_host = await _exchange(context, vendor, body.code)
    await blocking(context.secrets.set, connection.secret_name, token)
    for _attempt in range(3):
        current, etag = await blocking(load_connection, context.store, connection_id)
        now = datetime.now(UTC)
        changes: dict[str, Any] = {
            "credential_kind": "oauth_token",
            "credential_updated_at": now,
            "updated_by": principal.name,
            "updated_at": now,
        }
        if api_host is not None:
            changes["base_url"] = api_host  # the account's data centre (e.g. https://us21.api.mailchimp.com)
        updated = current.model_copy(update=changes)
        try:
            new_etag = await blocking(save_connection, context.store, updated, etag)
        except ApiProblem as problem:
            if problem.status == 412:
                continue
            raise
        LOG.info("connection %s signed in with OAuth by %s", connection_id, principal.name)
        return ConnectionView.of(updated, new_etag)
    raise ApiProblem(409, "the connection kept changing during the sign-in; try again", field="path.connection_id")
