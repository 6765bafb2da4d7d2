"""The admin API served for real: uvicorn on loopback over Azurite, a vendor simulator, the Key Vault
stand-in (through the real SecretClient) and the in-process Durable host; tokens signed by a test RSA
key whose JWKS a loopback server publishes, verified by the production verifier."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from devtools.api_server import LocalApi, ServerThread, local_api
from devtools.local_env import DEFAULT_MAPPING, LocalEnv, local_env
from devtools.sample_data import Sample, seed_sample
from devtools.tokens import DevIssuer, JwksServer, new_key
from shared.api.auth import ADMIN, CONTRIBUTOR
from shared.api.runs_store import ACTIVE

FAST = {"rows_per_partition": 1000, "first_poll_seconds": 0.05, "max_poll_seconds": 0.2, "max_attempts": 2}
SEGMENTS = ["segments/vip-customers", "segments/newsletter"]


@pytest.fixture(scope="session")
def issuer() -> DevIssuer:
    return DevIssuer()


@pytest.fixture(scope="session")
def jwks(issuer: DevIssuer) -> Iterator[JwksServer]:
    with JwksServer(issuer) as server:
        yield server


@dataclass
class Tokens:
    issuer: DevIssuer

    def admin(self, **kw: Any) -> str:
        return self.issuer.mint([ADMIN], **kw)

    def contributor(self, **kw: Any) -> str:
        return self.issuer.mint(
            [CONTRIBUTOR], subject="00000000-0000-0000-0000-0000000c0001", name="contributor@example.test", **kw
        )

    def identities(self) -> dict[str, str | None]:
        """Every kind of caller the authorization matrix tries."""
        now = int(time.time())
        return {
            "admin": self.admin(),
            "contributor": self.contributor(),
            "other_role": self.issuer.mint(["Reports.Reader"], subject="00000000-0000-0000-0000-0000000e0001"),
            "no_token": None,
            "expired": self.admin(lifetime=-600),
            "wrong_audience": self.admin(audience="api://someone-else"),
            "wrong_issuer": self.admin(issuer="https://login.microsoftonline.com/another-tenant/v2.0"),
            "bad_signature": self.admin(key=new_key()),
            "unknown_kid": self.admin(key=new_key(), kid="kid-nobody-published"),
            "not_yet_valid": self.admin(not_before=now + 600),
        }


@dataclass
class Harness:
    env: LocalEnv
    api: LocalApi
    url: str
    tokens: Tokens
    sample: Sample
    client: httpx.Client
    seen: list[httpx.Response] = field(default_factory=list)

    def call(self, method: str, path: str, token: str | None = "admin", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token == "admin":
            token = self.tokens.admin()
        elif token == "contributor":
            token = self.tokens.contributor()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.seen.append(response)
        return response

    def create_connection(self, connection_id: str, *, shared: bool = False, **body: Any) -> dict[str, Any]:
        payload = {
            "id": connection_id,
            "display_name": f"{connection_id} (test)",
            "vendor": self.env.vendor,
            "credential": self.env.simulator.api_key,
            "usable_by": "admins_and_contributors" if shared else "admins",
            "privacy_consent_accepted": True,
            "base_url": self.env.simulator.url,
            **body,
        }
        response = self.call("POST", "/api/connections", json=payload)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def export_body(self, export_id: str, connection_id: str, **overrides: Any) -> dict[str, Any]:
        return {
            "id": export_id,
            "name": f"{export_id} (test)",
            "connection_id": connection_id,
            "target_id": self.env.target_id,
            "field_mapping": DEFAULT_MAPPING[self.env.vendor],
            "segments": SEGMENTS,
            **overrides,
        }

    def create_export(self, export_id: str, connection_id: str, **overrides: Any) -> dict[str, Any]:
        response = self.call("POST", "/api/exports", json=self.export_body(export_id, connection_id, **overrides))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def wait_for_run(self, export_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll the current run until it is no longer pending or running."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.call("GET", f"/api/exports/{export_id}/runs/current")
            assert response.status_code == 200, response.text
            view: dict[str, Any] = response.json()
            if view["status"] not in ("pending", "running"):
                return view
            assert time.monotonic() < deadline, f"run of {export_id} still {view['status']} after {timeout}s"
            time.sleep(0.05)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Let every orchestration the test started end before the environment is torn down."""
        deadline = time.monotonic() + timeout
        while any(i.status.value in ACTIVE for i in list(self.env.host.instances.values())):
            if time.monotonic() > deadline:
                raise AssertionError("orchestrations still running at teardown")
            time.sleep(0.05)


def make_harness(
    azurite: str,
    issuer: DevIssuer,
    jwks: JwksServer,
    *,
    vendor: str = "sendgrid",
    profiles: int = 300,
    simulator_options: dict[str, Any] | None = None,
    api_settings: dict[str, Any] | Callable[[LocalEnv], dict[str, Any]] | None = None,
    min_refresh: float = 0.0,
    oauth_endpoints: Callable[[LocalEnv], dict[str, dict[str, str]]] | None = None,
) -> Iterator[Harness]:
    with local_env(vendor, azurite, settings=FAST, simulator_options=simulator_options) as env:
        sample = seed_sample(env.runtime.segments, profiles)
        extra = api_settings(env) if callable(api_settings) else api_settings
        endpoints = oauth_endpoints(env) if oauth_endpoints else None
        api = local_api(env, jwks.url, min_refresh=min_refresh, oauth_endpoints=endpoints, **(extra or {}))
        with ServerThread(api.app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            harness = Harness(env, api, server.url, Tokens(issuer), sample, client)
            try:
                yield harness
            finally:
                harness.wait_idle()


@pytest.fixture
def harness(azurite: str, issuer: DevIssuer, jwks: JwksServer) -> Iterator[Harness]:
    yield from make_harness(azurite, issuer, jwks)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
