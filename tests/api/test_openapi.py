"""The OpenAPI document is generated from the code, committed, served, and the function app hosts it."""

from __future__ import annotations

import json

import pytest

from shared.api.openapi import COMMITTED, generated, main, render
from tests.api.conftest import Harness


def test_the_committed_openapi_document_is_the_generated_one() -> None:
    assert COMMITTED.exists(), "api/openapi.json is missing: run python -m shared.api.openapi"
    assert COMMITTED.read_text(encoding="utf-8") == render(generated()), (
        "api/openapi.json differs from the code: run python -m shared.api.openapi and commit it"
    )
    assert main(["--check"]) == 0


def test_every_problem_answer_is_documented_as_problem_json_and_every_operation_is_secured() -> None:
    document = generated()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(answer["content"]) == ["application/problem+json"], (path, method, status)
            secured = bool(operation.get("security"))
            assert secured == (path != "/api/health"), (path, method)


def test_the_served_document_equals_the_committed_one(harness: Harness) -> None:
    served = harness.call("GET", "/api/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_the_function_app_serves_the_api_through_an_anonymous_catch_all_with_the_durable_client() -> None:
    from pathlib import Path

    import azure.durable_functions as df

    import function_app
    from blueprints.api import bp

    assert "app.register_functions(api)" in Path(function_app.__file__).read_text(encoding="utf-8")
    app = df.DFApp()  # function_app.app indexes once per process (tests/unit/test_function_app.py does that)
    app.register_functions(bp)
    functions = {f.get_function_name(): f for f in app.get_functions()}
    bindings = json.loads(functions["admin_api"].get_function_json())["bindings"]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert trigger["route"] == "{*path}" and trigger["authLevel"] == "ANONYMOUS"
    assert any(b["type"] == "durableClient" and b["name"] == "client" for b in bindings)


async def test_the_same_app_answers_behind_the_functions_asgi_middleware(harness: Harness) -> None:
    """What the HTTP trigger does: the Functions request through func.AsgiMiddleware, the durable client
    in the context variable (here the in-process host; in Azure the DurableOrchestrationClient)."""
    import azure.functions as func

    from shared.api.app import create_app
    from shared.api.context import DURABLE_CLIENT

    context = harness.api.context
    durable, context.durable_client = context.durable_client, None
    middleware = func.AsgiMiddleware(create_app(context))
    harness.create_connection("main")
    harness.create_export("weekly", "main")

    def request(method: str, url: str, token: str | None, body: bytes = b"") -> func.HttpRequest:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return func.HttpRequest(method, url, headers=headers, body=body)

    health = await middleware.handle_async(request("GET", "http://localhost:7071/api/health", None))
    assert health.status_code == 200 and json.loads(health.get_body()) == {"status": "ok", "settings_problems": 0}
    anonymous = await middleware.handle_async(request("GET", "http://localhost:7071/api/exports", None))
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
    no_client = await middleware.handle_async(
        request("GET", "http://localhost:7071/api/exports/weekly/runs", harness.tokens.admin())
    )
    assert no_client.status_code == 503
    token = DURABLE_CLIENT.set(durable)
    try:
        runs = await middleware.handle_async(
            request("GET", "http://localhost:7071/api/exports/weekly/runs?limit=5", harness.tokens.admin())
        )
    finally:
        DURABLE_CLIENT.reset(token)
    assert runs.status_code == 200, runs.get_body()
    assert json.loads(runs.get_body()) == {"items": [], "next": None}


async def test_broken_app_settings_answer_health_by_count_and_everything_else_with_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.functions as func

    from blueprints import api as blueprint
    from shared.runtime import set_runtime

    set_runtime(None)
    blueprint._asgi.cache_clear()
    for name in ("EXPORT_STORAGE_ACCOUNT_URL", "EXPORT_STORAGE_CONNECTION_STRING", "EXPORT_KEY_VAULT_URL"):
        monkeypatch.delenv(name, raising=False)
    from shared.settings import get_settings

    get_settings.cache_clear()
    handler = blueprint.admin_api._function._func.__wrapped__  # the function under the durable-client wrapper
    health = await handler(func.HttpRequest("GET", "http://localhost/api/health", body=b""), None, None)
    assert health.status_code == 200
    body = json.loads(health.get_body())
    assert set(body) == {"status", "settings_problems"}
    assert body["status"] == "degraded" and body["settings_problems"] >= 1
    other = await handler(func.HttpRequest("GET", "http://localhost/api/exports", body=b""), None, None)
    assert other.status_code == 503 and other.mimetype == "application/problem+json"
    assert b"EXPORT_" not in other.get_body()
    get_settings.cache_clear()


def test_the_documented_vendors_are_the_registry() -> None:
    from typing import get_args

    from destinations import REGISTRY
    from shared.api.schemas import VendorName

    assert set(get_args(VendorName)) == set(REGISTRY)
