"""Errors name the connection and the fix; vendor text never carries the credential; retries go through
tenacity, honour the vendor's hint and are logged (logger ``segment_export.vendor``) with it."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from destinations import destination_class, vendors
from destinations.base import Contact, Credential, Outcome, Target
from destinations.http import REDACTED, scrub
from shared.errors import CredentialRefused, RateLimited, RequestRejected, VendorUnavailable
from shared.pipeline.pacing import RetryPolicy, with_retries
from simulators import simulator_class
from simulators.brevo import BrevoSimulator
from simulators.sendgrid import SendGridSimulator
from tests.contract.vendor_cases import CASES, adapter, upsert_all


def test_scrub_replaces_every_form_of_the_credential() -> None:
    assert scrub("key SG.abc123def456 echoed", "SG.abc123def456") == f"key {REDACTED} echoed"
    assert scrub("Basic QWxhZGRpbjpvcGVu and xkeysib-999999", ["Basic QWxhZGRpbjpvcGVu", "xkeysib-999999"]) == (
        f"{REDACTED} and {REDACTED}"
    )
    assert scrub("nothing to hide", "SG.abc123def456") == "nothing to hide"


@pytest.mark.parametrize("vendor", sorted(vendors()))
async def test_a_refused_credential_names_the_connection_and_the_fix(vendor: str, client) -> None:
    with simulator_class(vendor)() as sim:
        target = sim.create_target()
        wrong = "wrong-key-" + "z" * 20 + ("-us1" if vendor == "mailchimp" else "")
        cls = destination_class(vendor)
        dest = cls(
            client=client,
            credential=Credential(SecretStr(wrong)),
            target=Target(target, CASES[vendor].attributes),
            base_url=sim.url,
            connection="Newsletter (conn-7)",
        )
        with pytest.raises(CredentialRefused) as caught:
            await dest.preflight()
    message = str(caught.value)
    assert "Newsletter (conn-7)" in message and "update the credential of connection" in message
    assert wrong not in message and "z" * 20 not in message


async def test_vendor_text_echoing_the_key_is_scrubbed_from_row_reasons_and_errors(client) -> None:
    with SendGridSimulator() as sim:
        target = sim.create_target()
        key = sim.api_key
        dest = adapter("sendgrid", sim, client, target)
        refusal = {"errors": [{"field": "contacts[1].email", "message": f"bad email (your key {key})"}]}
        sim.inject(400, path_contains="/v3/marketing/contacts", method="PUT", body=refusal)
        outcomes = await upsert_all(dest, [Contact("ok@example.com"), Contact("odd@example.com")])
        assert outcomes["odd@example.com"][0] is Outcome.REJECTED
        assert key not in outcomes["odd@example.com"][1] and REDACTED in outcomes["odd@example.com"][1]
        sim.inject(422, path_contains="/v3/marketing/contacts", method="PUT", body={"echo": f"Bearer {key}"})
        with pytest.raises(RequestRejected) as caught:
            await dest.upsert([Contact("a@example.com")], [dest.encode_contact(Contact("a@example.com"))])
        assert key not in str(caught.value) and REDACTED in str(caught.value)


async def test_retries_honour_the_vendors_hint_and_every_429_and_retry_is_logged(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="segment_export.vendor")
    with BrevoSimulator(time_scale=0.01, job_delay=0.01) as sim:
        target = sim.create_target()
        dest = adapter("brevo", sim, client, target)
        sim.scenario.fault("rate_limit_storm", times=2, seconds=0.2, path_contains="/v3/contacts/lists")
        await with_retries(dest.preflight, RetryPolicy(5, base=0.01))
    records = [r for r in caplog.records if r.name == "segment_export.vendor"]
    limited = [r for r in records if "answered HTTP 429 (rate limited)" in r.getMessage()]
    retried = [r for r in records if r.getMessage().startswith("retrying")]
    assert len(limited) == 2 and len(retried) == 2
    assert all(r.retry_after == pytest.approx(0.2, abs=0.01) for r in limited + retried)  # type: ignore[attr-defined]
    assert all(r.vendor == "brevo" and r.status == 429 for r in limited + retried)  # type: ignore[attr-defined]
    assert all(sim.api_key not in r.getMessage() for r in records)


async def test_retries_stop_at_the_attempts_and_the_time_budget(client) -> None:
    with SendGridSimulator() as sim:
        target = sim.create_target()
        dest = adapter("sendgrid", sim, client, target)
        sim.scenario.fault("server_error_burst", times=10, path_contains="/v3/scopes")
        with pytest.raises(VendorUnavailable):
            await with_retries(dest.preflight, RetryPolicy(3, base=0.01))
        assert sum(1 for r in sim.requests if r.path == "/v3/scopes") == 3
        sim.scenario.clear()
        sim.scenario.fault("rate_limit_storm", times=10, seconds=30, path_contains="/v3/scopes")
        with pytest.raises(RateLimited):
            # A 30 s hint does not fit a 1 s budget: give up at once instead of sleeping past it.
            await with_retries(dest.preflight, RetryPolicy(5, base=0.01, max_seconds=1.0))


@pytest.mark.parametrize("vendor", sorted(vendors()))
def test_every_form_of_the_credential_on_the_wire_is_scrubbed_and_nothing_else(vendor: str) -> None:
    key = "k3y-" + "s" * 24 + ("-us9" if vendor == "mailchimp" else "")
    dest = destination_class(vendor)(
        client=None,  # type: ignore[arg-type]  # nothing is sent
        credential=Credential(SecretStr(key)),
        target=Target("1"),
    )
    for value in dest.http.headers.values():
        scrubbed = dest.scrub(f"echo: {value}")
        if value in ("application/json", "2026-03-15"):
            assert scrubbed == f"echo: {value}"  # not a credential: left alone
        else:
            assert key not in scrubbed and value not in scrubbed
