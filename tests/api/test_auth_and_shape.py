"""Token validation details (key rotation, caching, clock skew) and request shape checks: every 4xx is
a problem document naming the field, nothing yields a 5xx, health is anonymous and says nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devtools.tokens import DevIssuer, JwksServer, new_key
from shared.api.auth import ADMIN
from tests.api.conftest import Harness, make_harness


@pytest.fixture
def rotating(azurite: str, issuer: DevIssuer) -> Iterator[tuple[Harness, JwksServer]]:
    """A harness with a JWKS server of its own (the test rolls its keys)."""
    with JwksServer(issuer) as server:
        for h in make_harness(azurite, issuer, server, profiles=10, min_refresh=0):
            yield h, server


def test_keys_are_cached_and_refreshed_when_a_token_names_a_new_key(rotating: tuple[Harness, JwksServer]) -> None:
    h, server = rotating
    for _ in range(3):
        assert h.call("GET", "/api/connections").status_code == 200
    assert server.requests == 1  # fetched once, then cached

    rolled = DevIssuer(new_key(), kid="rolled-key")
    server.set_keys(h.tokens.issuer, rolled)  # Entra ID publishes the new key before signing with it
    assert h.call("GET", "/api/connections", token=rolled.mint([ADMIN])).status_code == 200
    assert server.requests == 2  # refreshed on the unknown key id

    server.set_keys(rolled)  # the old key is withdrawn: cached until the next refresh, then refused
    stranger = DevIssuer(new_key(), kid="never-published")
    assert h.call("GET", "/api/connections", token=stranger.mint([ADMIN])).status_code == 401
    assert server.requests == 3
    assert h.call("GET", "/api/connections", token=h.tokens.admin()).status_code == 401


def test_unknown_key_ids_do_not_refetch_faster_than_the_minimum_interval(azurite: str, issuer: DevIssuer) -> None:
    with JwksServer(issuer) as server:
        for h in make_harness(azurite, issuer, server, profiles=10, min_refresh=300):
            assert h.call("GET", "/api/connections").status_code == 200
            for i in range(5):
                forged = DevIssuer(new_key(), kid=f"forged-{i}").mint([ADMIN])
                assert h.call("GET", "/api/connections", token=forged).status_code == 401
            assert server.requests == 1


def test_clock_skew_is_tolerated_within_the_leeway_only(harness: Harness) -> None:
    now = int(time.time())
    assert harness.call("GET", "/api/exports", token=harness.tokens.admin(lifetime=-30)).status_code == 200
    assert harness.call("GET", "/api/exports", token=harness.tokens.admin(not_before=now + 30)).status_code == 200
    expired = harness.call("GET", "/api/exports", token=harness.tokens.admin(lifetime=-90))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    missing_exp = harness.tokens.issuer.mint([ADMIN], claims={"exp": None})
    assert harness.call("GET", "/api/exports", token=missing_exp).status_code == 401
    for header in ("Basic abc", "Bearer", "Bearer not-a-jwt", "Bearer " + "a" * 9000):
        answer = harness.call("GET", "/api/exports", token=None, headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.json()["field"] == "header.Authorization"


def test_health_is_anonymous_and_reveals_nothing_and_everything_else_needs_a_token(harness: Harness) -> None:
    health = harness.call("GET", "/api/health", token=None)
    assert health.status_code == 200 and health.json() == {"status": "ok", "settings_problems": 0}
    for path in ("/api/openapi.json", "/api/nothing-here", "/api/exports/x/runs", "/"):
        assert harness.call("GET", path, token=None).status_code == 401, path
    assert harness.call("GET", "/api/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        (
            "POST",
            "/api/connections",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            422,
            "body.1",
        ),
        (
            "POST",
            "/api/connections",
            {"json": {"id": "UPPER", "display_name": "x", "vendor": "sendgrid", "privacy_consent_accepted": True}},
            422,
            "body.id",
        ),
        (
            "POST",
            "/api/connections",
            {"json": {"id": "ok", "display_name": "x", "vendor": "acme", "privacy_consent_accepted": True}},
            422,
            "body.vendor",
        ),
        (
            "POST",
            "/api/connections",
            {"json": {"id": "ok", "display_name": "x", "vendor": "brevo", "privacy_consent_accepted": False}},
            422,
            "body.privacy_consent_accepted",
        ),
        (
            "POST",
            "/api/connections",
            {
                "json": {
                    "id": "ok",
                    "display_name": "x",
                    "vendor": "brevo",
                    "privacy_consent_accepted": True,
                    "extra": 1,
                }
            },
            422,
            "body.extra",
        ),
        (
            "POST",
            "/api/exports",
            {
                "json": {
                    "id": "e",
                    "name": "n",
                    "connection_id": "nope",
                    "target_id": "t",
                    "field_mapping": {"first_name": "f"},
                    "segments": ["s"],
                }
            },
            422,
            "body.field_mapping",
        ),
        (
            "POST",
            "/api/exports",
            {
                "json": {
                    "id": "e",
                    "name": "n",
                    "connection_id": "nope",
                    "target_id": "t",
                    "field_mapping": {"email": "e"},
                    "segments": ["../x"],
                }
            },
            422,
            "body.segments",
        ),
        (
            "POST",
            "/api/exports",
            {
                "json": {
                    "id": "e",
                    "name": "n",
                    "connection_id": "nope",
                    "target_id": "t",
                    "field_mapping": {"email": "e"},
                    "segments": ["s"],
                }
            },
            422,
            "body.connection_id",
        ),
        ("GET", "/api/exports/" + "a" * 70, {}, 422, "path.export_id"),
        ("GET", "/api/exports/Bad_Id", {}, 422, "path.export_id"),
        ("GET", "/api/exports/e/runs", {"params": {"limit": "1000"}}, 422, "query.limit"),
        ("GET", "/api/exports/e/runs/not-a-run", {}, 422, "path.run_id"),
        ("PUT", "/api/exports/e", {"json": {}, "headers": {"If-Match": "*"}}, 400, "header.If-Match"),
        ("POST", "/api/connections", {"content": b"x" * 70_000}, 413, "body"),
        ("GET", "/api/exports", {"params": {"q": "x" * 3000}}, 414, "query"),
        ("GET", "/api/" + "x" * 1100, {}, 414, "path"),
        ("DELETE", "/api/health", {}, 405, None),
        (
            "PUT",
            "/api/connections/main",
            {"json": {"display_name": "x", "privacy_consent_accepted": False}, "headers": {"If-Match": '"0x1"'}},
            422,
            "body.privacy_consent_accepted",
        ),
        ("POST", "/api/connections/main/test", {"json": {"target_id": "a\x01b"}}, 422, "body.target_id"),
        ("POST", "/api/oauth/callback", {"json": {"code": "c", "state": "has space"}}, 422, "body.state"),
    ],
)
def test_bad_requests_get_a_problem_document_naming_the_field(
    harness: Harness, method: str, path: str, kwargs: dict, status: int, field: str | None
) -> None:
    answer = harness.call(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert field is None or problem["field"].startswith(field), problem


def test_exports_are_validated_for_the_vendor_on_save(harness: Harness) -> None:
    h = harness
    h.create_connection("main")
    missing = h.call("POST", "/api/exports", json=h.export_body("e1", "main", segments=["segments/none"]))
    assert missing.status_code == 422 and missing.json()["field"] == "body.segments.0"
    policy = h.call("POST", "/api/exports", json=h.export_body("e2", "main", removal_policy="archive"))
    assert policy.status_code == 422 and policy.json()["field"] == "body.removal_policy"
    assert "offered by SendGrid" in policy.json()["detail"]
    assert h.call("POST", "/api/exports", json=h.export_body("e3", "main")).status_code == 201
    assert h.call("GET", "/api/exports/e3/runs/current").status_code == 404  # saving does not run
    assert h.call("POST", "/api/exports", json=h.export_body("e3", "main")).status_code == 409


def test_the_connection_test_names_what_to_fix(harness: Harness) -> None:
    h = harness
    h.create_connection("main")
    missing = h.call(
        "POST", "/api/connections/main/test", json={"target_id": h.env.target_id, "attributes": ["loyalty_tier"]}
    ).json()
    assert missing["ok"] is False and missing["check"] == "fields_missing"
    assert missing["missing_fields"] == ["loyalty_tier"] and "loyalty_tier" in missing["message"]
    no_list = h.call("POST", "/api/connections/main/test", json={"target_id": "no-such-list"}).json()
    assert no_list["check"] == "target_not_found" and "no-such-list" in no_list["message"]


async def test_either_configured_audience_and_issuer_is_accepted(issuer: DevIssuer, jwks: JwksServer) -> None:
    from shared.api.auth import KeySet, TokenVerifier, Unauthenticated

    client_id = "11111111-2222-3333-4444-555555555555"
    v1 = "https://sts.windows.net/00000000-0000-0000-0000-00000000d3v0/"
    verifier = TokenVerifier(
        KeySet(jwks.url, ttl=60, min_refresh=0),
        audience=f"{issuer.audience}, {client_id}",
        issuer=f"{issuer.issuer},{v1}",
        leeway=60,
    )
    for token in (issuer.mint([ADMIN]), issuer.mint([ADMIN], audience=client_id, issuer=v1)):
        principal = await verifier.verify(f"Bearer {token}")
        assert principal.is_admin and principal.name == "admin@example.test"
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"Bearer {issuer.mint([ADMIN], audience='api://other')}")
