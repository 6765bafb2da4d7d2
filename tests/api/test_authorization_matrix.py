"""Every endpoint × every kind of caller → the expected status.

Callers: admin, a contributor on a connection shared with contributors, the same contributor on a
connection that is not, a token with another app role, no token, and tokens that fail validation
(expired, wrong audience, wrong issuer, bad signature, unknown key id, not yet valid).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devtools.tokens import DevIssuer, JwksServer
from shared.api.schemas import RunView
from tests.api.conftest import Harness, make_harness, unique

INVALID = ("no_token", "expired", "wrong_audience", "wrong_issuer", "bad_signature", "unknown_kid", "not_yet_valid")


@dataclass
class Op:
    name: str
    method: str
    path: str  # {conn}, {export}, {run} are filled in
    admin: int
    shared: int  # contributor, resources on a shared connection
    unshared: int  # contributor, resources on an admins-only connection
    other: int = 403
    body: Callable[[Harness, dict[str, str]], Any] | None = None
    if_match: bool = False
    fresh: bool = False  # needs its own connection and export (it changes or deletes them)


def _export_body(h: Harness, ids: dict[str, str]) -> Any:
    return h.export_body(ids["export"], ids["conn"], name="renamed")


OPS = [
    Op("list connections", "GET", "/api/connections", 200, 403, 403),
    Op(
        "create connection",
        "POST",
        "/api/connections",
        201,
        403,
        403,
        body=lambda h, ids: {
            "id": unique("new"),
            "display_name": "x",
            "vendor": "sendgrid",
            "credential": h.env.simulator.api_key,
            "privacy_consent_accepted": True,
        },
    ),
    Op("get connection", "GET", "/api/connections/{conn}", 200, 403, 403),
    Op(
        "update connection",
        "PUT",
        "/api/connections/{conn}",
        200,
        403,
        403,
        body=lambda h, ids: {"display_name": "renamed", "privacy_consent_accepted": True},
        if_match=True,
        fresh=True,
    ),
    Op(
        "rotate credential",
        "PUT",
        "/api/connections/{conn}/credential",
        200,
        403,
        403,
        body=lambda h, ids: {"credential": h.env.simulator.api_key},
        if_match=True,
        fresh=True,
    ),
    Op(
        "test connection",
        "POST",
        "/api/connections/{conn}/test",
        200,
        403,
        403,
        body=lambda h, ids: {"target_id": h.env.target_id, "attributes": ["first_name"]},
    ),
    Op("delete connection", "DELETE", "/api/connections/{conn}", 204, 403, 403, if_match=True, fresh=True),
    Op("oauth start", "GET", "/api/connections/{conn}/oauth/start", 409, 403, 403),
    Op(
        "oauth callback",
        "POST",
        "/api/oauth/callback",
        400,
        403,
        403,
        body=lambda h, ids: {"code": "abc", "state": "not.a.state"},
    ),
    Op("list exports", "GET", "/api/exports", 200, 200, 200),
    Op(
        "create export",
        "POST",
        "/api/exports",
        201,
        403,
        403,
        body=lambda h, ids: h.export_body(unique("exp"), ids["conn"]),
    ),
    Op("get export", "GET", "/api/exports/{export}", 200, 200, 404),
    Op("update export", "PUT", "/api/exports/{export}", 200, 403, 403, body=_export_body, if_match=True, fresh=True),
    Op("delete export", "DELETE", "/api/exports/{export}", 204, 403, 403, if_match=True, fresh=True),
    Op(
        "start run",
        "POST",
        "/api/exports/{export}/runs",
        202,
        202,
        404,
        body=lambda h, ids: {"dry_run": True},
        fresh=True,
    ),
    Op("list runs", "GET", "/api/exports/{export}/runs", 200, 200, 404),
    Op("get run", "GET", "/api/exports/{export}/runs/{run}", 200, 200, 404),
    Op("current run", "GET", "/api/exports/{export}/runs/current", 200, 200, 404),
    Op("rejected rows", "GET", "/api/exports/{export}/runs/{run}/rejected-rows", 200, 200, 404),
    Op("cancel run", "POST", "/api/exports/{export}/runs/{run}/cancel", 409, 403, 403),
]


@pytest.fixture(scope="module")
def module_harness(azurite: str, issuer: DevIssuer, jwks: JwksServer) -> Iterator[Harness]:
    yield from make_harness(azurite, issuer, jwks, profiles=200)


@pytest.fixture(scope="module")
def fixtures(module_harness: Harness) -> dict[str, dict[str, str]]:
    """A finished dry run on a shared and on an admins-only connection."""
    h = module_harness
    out = {}
    for kind, shared in (("shared", True), ("unshared", False)):
        conn, export = f"conn-{kind}", f"exp-{kind}"
        h.create_connection(conn, shared=shared)
        h.create_export(export, conn)
        assert h.call("POST", f"/api/exports/{export}/runs", json={"dry_run": True}).status_code == 202
        view = RunView.model_validate(h.wait_for_run(export))
        assert view.status == "dry_run" and view.run_id and view.links.rejected_rows, view
        out[kind] = {"conn": conn, "export": export, "run": view.run_id}
    return out


def _ids(h: Harness, op: Op, kind: str, fixtures: dict[str, dict[str, str]]) -> dict[str, str]:
    if not op.fresh:
        return fixtures[kind]
    conn, export = unique(f"c{kind[:2]}"), unique(f"e{kind[:2]}")
    h.create_connection(conn, shared=kind == "shared")
    h.create_export(export, conn)
    return {"conn": conn, "export": export, "run": fixtures[kind]["run"]}


def _etag(h: Harness, op: Op, ids: dict[str, str]) -> str:
    path = f"/api/connections/{ids['conn']}" if "connections" in op.path else f"/api/exports/{ids['export']}"
    return h.call("GET", path).headers["ETag"]


CALLERS = ["admin", "shared", "unshared", "other_role", *INVALID]


def test_every_endpoint_answers_every_caller_as_expected(
    module_harness: Harness, fixtures: dict[str, dict[str, str]]
) -> None:
    h = module_harness
    tokens = h.tokens.identities()
    got: dict[tuple[str, str], int] = {}
    expected: dict[tuple[str, str], int] = {}
    for op in OPS:
        for caller in CALLERS:
            kind = "unshared" if caller in ("unshared", "admin", "other_role", *INVALID) else "shared"
            ids = _ids(h, op, kind, fixtures)
            if op.name == "oauth start" or op.name == "test connection":
                ids = fixtures["unshared"]
            token = tokens["contributor"] if caller in ("shared", "unshared") else tokens[caller]
            headers = {"If-Match": _etag(h, op, ids)} if op.if_match else {}
            body = op.body(h, ids) if op.body else None
            response = h.call(op.method, op.path.format(**ids), token=token, json=body, headers=headers)
            got[(op.name, caller)] = response.status_code
            want = {"admin": op.admin, "shared": op.shared, "unshared": op.unshared, "other_role": op.other}
            expected[(op.name, caller)] = want.get(caller, 401)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json", (op.name, caller)
            if response.status_code == 401:
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
    h.wait_idle()
    mismatches = {key: (got[key], expected[key]) for key in got if got[key] != expected[key]}
    assert not mismatches, mismatches
    assert len(got) == len(OPS) * len(CALLERS)
    print(f"authorization matrix: {len(OPS)} endpoints × {len(CALLERS)} callers = {len(got)} requests")


def test_a_contributor_lists_only_exports_on_shared_connections(
    module_harness: Harness, fixtures: dict[str, dict[str, str]]
) -> None:
    listed = module_harness.call("GET", "/api/exports", token="contributor").json()["items"]
    connections = {item["connection_id"] for item in listed}
    assert fixtures["shared"]["export"] in {item["id"] for item in listed}
    assert fixtures["unshared"]["conn"] not in connections
    everything = module_harness.call("GET", "/api/exports").json()["items"]
    assert fixtures["unshared"]["export"] in {item["id"] for item in everything}
