"""The admin API as Azure runs it: the real Python worker runtime invokes the ``admin_api`` HTTP trigger
with the host's protobuf messages, the SDK's ``DurableOrchestrationClient`` built from the durable
client binding talks to the extension's HTTP API (``devtools.durable_host.serve_client_api`` over the
in-process host), and the request reaches FastAPI through ``func.AsgiMiddleware``."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from blueprints import api as blueprint
from devtools.durable_host import serve_client_api
from devtools.functions_worker import FunctionsWorker
from devtools.local_env import local_env
from devtools.sample_data import seed_sample
from devtools.tokens import DevIssuer, JwksServer
from tests.api.conftest import FAST


async def test_a_run_started_through_the_worker_runtime_with_the_sdk_durable_client(
    azurite: str, issuer: DevIssuer, jwks: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORT_API_AUDIENCE", issuer.audience)
    monkeypatch.setenv("EXPORT_API_ISSUER", issuer.issuer)
    monkeypatch.setenv("EXPORT_API_JWKS_URL", jwks.url)
    worker = FunctionsWorker.shared()
    p = worker.protos
    with local_env("sendgrid", azurite, settings=FAST) as env:
        sample = seed_sample(env.runtime.segments, 200)
        env.add_connection()
        env.add_export()
        blueprint._asgi.cache_clear()  # built from this environment's runtime and settings
        runner, binding = await serve_client_api(env.host)
        token = issuer.mint()

        async def call(method: str, path: str, body: Any = None, auth: bool = True) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {token}"} if auth else {}
            payload = b""
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            request = p.RpcHttp(
                method=method, url=f"http://127.0.0.1:7071{path}", headers=headers, body=p.TypedData(bytes=payload)
            )
            answer = await worker.invoke(
                "admin_api", {"req": p.TypedData(http=request), "client": worker.typed_string(json.dumps(binding))}
            )
            raw = answer.http.body.bytes or answer.http.body.string.encode()
            return int(answer.http.status_code), json.loads(raw) if raw else None

        try:
            status, body = await call("GET", "/api/exports/weekly", auth=False)
            assert status == 401 and body["field"] == "header.Authorization"
            status, body = await call("POST", "/api/exports/weekly/runs", {"dry_run": True})
            assert status == 202, body
            assert env.host.instances["export-weekly"].input["dry_run"] is True
            status, body = await call("POST", "/api/exports/weekly/runs", {})
            assert status == 409 and body["active_run"].startswith("/api/exports/weekly/runs/")
            await env.host.wait("export-weekly")
            deadline = time.monotonic() + 30
            while True:
                status, view = await call("GET", "/api/exports/weekly/runs/current")
                assert status == 200, view
                if view["status"] not in ("pending", "running") or time.monotonic() > deadline:
                    break
            assert view["status"] == "dry_run" and view["profiles_read"] == sample.rows, view
            assert env.simulator.writes() == []
        finally:
            # The SDK keeps one aiohttp session per process, bound to this test's event loop: close it
            # here so a later test (on its own loop) opens a fresh one, as a worker process would.
            from azure.durable_functions.models.utils import http_utils

            await http_utils._close_session()
            await runner.cleanup()
            blueprint._asgi.cache_clear()
