"""OAuth 2 sign-in for Mailchimp and Campaign Monitor against the simulators' authorization servers
(``/oauth2/authorize|token|metadata`` and ``/oauth``, ``/oauth/token``, as the vendors document them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from pydantic import SecretStr

from devtools.local_env import LocalEnv
from devtools.tokens import DevIssuer, JwksServer
from shared.api.auth import ADMIN
from tests.api.conftest import Harness, make_harness

REDIRECT = "https://admin.example.test/oauth/callback"
PATHS = {
    "mailchimp": ("/oauth2/authorize", "/oauth2/token", "/oauth2/metadata"),
    "campaign_monitor": ("/oauth", "/oauth/token", None),
}


def _settings(vendor: str) -> Any:
    def build(env: LocalEnv) -> dict[str, Any]:
        client_id, client_secret = env.simulator.oauth_client  # type: ignore[union-attr]
        env.runtime.secrets.set(f"{vendor.replace('_', '-')}-oauth-client-secret", _secret(client_secret))
        return {"api_oauth_redirect_uri": REDIRECT, f"{vendor}_oauth_client_id": client_id}

    return build


def _endpoints(vendor: str) -> Any:
    def build(env: LocalEnv) -> dict[str, dict[str, str]]:
        authorize, token, metadata = PATHS[vendor]
        endpoints = {"authorize_url": env.simulator.url + authorize, "token_url": env.simulator.url + token}
        if metadata:
            endpoints["metadata_url"] = env.simulator.url + metadata
        return {vendor: endpoints}

    return build


def _secret(value: str) -> SecretStr:
    return SecretStr(value)


@pytest.fixture(params=["mailchimp", "campaign_monitor"])
def oauth_harness(
    request: pytest.FixtureRequest, azurite: str, issuer: DevIssuer, jwks: JwksServer
) -> Iterator[Harness]:
    vendor = request.param
    yield from make_harness(
        azurite,
        issuer,
        jwks,
        vendor=vendor,
        profiles=10,
        api_settings=_settings(vendor),
        oauth_endpoints=_endpoints(vendor),
    )


def _sign_in(h: Harness, connection_id: str, token: str | None = "admin") -> tuple[str, str]:
    """The admin's browser: our start endpoint → the vendor's authorize page → back with code and state."""
    started = h.call("GET", f"/api/connections/{connection_id}/oauth/start", token=token)
    assert started.status_code == 302, started.text
    location = started.headers["Location"]
    assert location.startswith(h.env.simulator.url) and location == started.json()["authorize_url"]
    consent = httpx.get(location, follow_redirects=False)
    assert consent.status_code == 302
    back = urlparse(consent.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    query = parse_qs(back.query)
    return query["code"][0], query["state"][0]


def test_oauth_sign_in_stores_the_token_in_key_vault_and_records_the_data_centre(oauth_harness: Harness) -> None:
    h = oauth_harness
    vendor = h.env.vendor
    # Mailchimp's API host comes from the metadata endpoint; Campaign Monitor has one host (here the simulator).
    base_url = None if vendor == "mailchimp" else h.env.simulator.url
    created = h.create_connection("oauth", credential=None, credential_kind="oauth_token", base_url=base_url)
    assert created["credential_set"] is False
    untested = h.call("POST", "/api/connections/oauth/test", json={"target_id": h.env.target_id}).json()
    assert untested["check"] == "credential_missing"

    code, state = _sign_in(h, "oauth")
    signed_in = h.call("POST", "/api/oauth/callback", json={"code": code, "state": state})
    assert signed_in.status_code == 200, signed_in.text
    view = signed_in.json()
    assert view["credential_set"] is True and view["credential_kind"] == "oauth_token"
    secret_name = h.env.configs.get_connection("oauth")[0].secret_name
    stored = h.env.keyvault.secrets[secret_name]
    assert stored in h.env.simulator.oauth_tokens  # type: ignore[union-attr]
    assert stored not in signed_in.text
    if vendor == "mailchimp":
        assert view["base_url"] == h.env.simulator.url  # the metadata's api_endpoint: the data centre's host
    tested = h.call("POST", "/api/connections/oauth/test", json={"target_id": h.env.target_id}).json()
    assert tested["ok"] is True, tested

    replay = h.call("POST", "/api/oauth/callback", json={"code": code, "state": state})
    assert replay.status_code == 400 and replay.json()["field"] == "body.state"
    assert "already" in replay.json()["detail"]


def test_the_state_is_bound_to_the_caller_signed_and_single_use(oauth_harness: Harness) -> None:
    h = oauth_harness
    h.create_connection("oauth", credential=None, credential_kind="oauth_token", base_url=None)
    code, state = _sign_in(h, "oauth")
    other_admin = h.tokens.issuer.mint([ADMIN], subject="00000000-0000-0000-0000-0000000a0002", name="b@x.test")
    stolen = h.call("POST", "/api/oauth/callback", json={"code": code, "state": state}, token=other_admin)
    assert stolen.status_code == 400 and "someone else" in stolen.json()["detail"]

    header, payload, signature = state.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert h.call("POST", "/api/oauth/callback", json={"code": code, "state": forged}).status_code == 400
    bad_code = h.call("POST", "/api/oauth/callback", json={"code": "not-issued", "state": state})
    assert bad_code.status_code == 400 and bad_code.json()["field"] == "body.code"
    # The state was spent by the refused exchange: a sign-in is started again, never resumed.
    assert h.call("POST", "/api/oauth/callback", json={"code": code, "state": state}).status_code == 400
    code, state = _sign_in(h, "oauth")
    claims = jwt.decode(state, options={"verify_signature": False})
    key = h.env.keyvault.secrets["api-oauth-state-key"]
    expired = jwt.encode({**claims, "exp": int(time.time()) - 5, "jti": "0" * 32}, key, algorithm="HS256")
    late = h.call("POST", "/api/oauth/callback", json={"code": code, "state": expired})
    assert late.status_code == 400 and "expired" in late.json()["detail"]
    assert claims["cid"] == "oauth" and claims["exp"] - claims["iat"] == 600
    assert h.call("POST", "/api/oauth/callback", json={"code": code, "state": state}).status_code == 200


def test_api_key_vendors_have_no_oauth(harness: Harness) -> None:
    harness.create_connection("main")
    answer = harness.call("GET", "/api/connections/main/oauth/start")
    assert answer.status_code == 409 and answer.json()["field"] == "path.connection_id"
