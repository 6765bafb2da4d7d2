"""Pre-flight asks its independent questions concurrently, and the error it reports does not depend on
which answer came first: ``destinations.preflight.PRECEDENCE`` (credential, list, fields, then the rest
in the order of the checks)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from destinations import destination_class
from destinations.base import Credential, Destination, Target
from destinations.preflight import run_checks
from shared.errors import (
    CredentialRefused,
    FieldsMissing,
    RateLimited,
    RequestRejected,
    TargetNotFound,
    VendorUnavailable,
)
from simulators import simulator_class
from simulators.base import BaseSimulator

# vendor → (the path of its credential check, the path of its list check, requests one pre-flight sends)
CHECKS: dict[str, tuple[str, str, int]] = {
    "sendgrid": ("/v3/scopes", "/v3/marketing/lists/", 3),
    "mailchimp": ("/ping", "/lists/", 3),
    "campaign_monitor": ("/systemdate", "/lists/", 3),
    # Brevo's list read doubles as its key check; a refusal of the attribute read stands in for it.
    "brevo": ("/v3/contacts/attributes", "/v3/contacts/lists/", 2),
}
# A custom field each vendor's account holds (name, vendor type) and one it does not.
KNOWN_FIELD = {
    "sendgrid": ("loyalty_tier", "Text"),
    "mailchimp": ("LOYALTY", "text"),  # a custom merge tag is mapped under its own name
    "campaign_monitor": ("loyalty_tier", "Text"),
    "brevo": ("loyalty_points", "float"),
}
UNKNOWN_FIELD = "shoe_size"


# ---- the verdict rule itself ---------------------------------------------------------------------


async def _fail_after(gate: asyncio.Event, error: Exception, finished: list[str]) -> None:
    await gate.wait()
    finished.append(type(error).__name__)
    raise error


async def test_a_refused_credential_wins_even_when_it_answers_last() -> None:
    finished: list[str] = []
    target_gate, credential_gate, fields_gate = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def release_in_order() -> None:
        for gate in (target_gate, fields_gate, credential_gate):  # the credential's answer comes last
            gate.set()
            await asyncio.sleep(0)

    checks = run_checks(
        _fail_after(credential_gate, CredentialRefused("key refused", vendor="v", status=401), finished),
        _fail_after(target_gate, TargetNotFound("no such list", vendor="v", status=404), finished),
        _fail_after(fields_gate, FieldsMissing("no such field", vendor="v", fields=["X"]), finished),
    )
    with pytest.raises(CredentialRefused, match="key refused"):
        await asyncio.gather(checks, release_in_order())
    # Every check ran to its end: none was cancelled by an earlier failure.
    assert finished == ["TargetNotFound", "FieldsMissing", "CredentialRefused"]


async def test_the_list_outranks_the_fields_and_a_definite_answer_outranks_a_transient_one() -> None:
    async def fails(error: Exception) -> None:
        raise error

    async def passes() -> None:
        return None

    with pytest.raises(TargetNotFound):
        await run_checks(
            fails(FieldsMissing("f", vendor="v", fields=["X"])), fails(TargetNotFound("t", vendor="v")), passes()
        )
    with pytest.raises(FieldsMissing):
        await run_checks(fails(VendorUnavailable("503", vendor="v")), fails(FieldsMissing("f", vendor="v", fields=[])))
    # Among failures of the same rank (or of no rank), the earlier check's is reported.
    with pytest.raises(RateLimited):
        await run_checks(fails(RateLimited("429", vendor="v")), fails(VendorUnavailable("503", vendor="v")))
    with pytest.raises(RequestRejected, match="first"):
        await run_checks(fails(RequestRejected("first", vendor="v")), fails(RequestRejected("second", vendor="v")))
    await run_checks(passes(), passes())


# ---- every adapter against its simulator ---------------------------------------------------------


@pytest.fixture(params=sorted(CHECKS))
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sim(vendor: str) -> Iterator[BaseSimulator]:
    with simulator_class(vendor)() as simulator:
        new_target(vendor, simulator)  # the account has a list, just not the one a test may ask for
        yield simulator


def new_target(vendor: str, sim: BaseSimulator) -> str:
    """A list holding ``KNOWN_FIELD`` (some vendors keep fields per list)."""
    target = sim.create_target()
    name, field_type = KNOWN_FIELD[vendor]
    sim.create_field(name, field_type)  # type: ignore[call-arg]
    return target


def make(vendor: str, sim: BaseSimulator, client: httpx.AsyncClient, list_id: str, *fields: str) -> Destination:
    return destination_class(vendor)(
        client=client,
        credential=Credential(SecretStr(sim.api_key)),
        target=Target(list_id=list_id, mapped_attributes=("first_name", *fields)),
        base_url=sim.url,
    )


def missing_list(vendor: str) -> str:
    return "987654321" if vendor == "brevo" else str(uuid.uuid4())  # Brevo list ids are numbers


async def test_a_refused_credential_is_reported_over_a_missing_list_and_missing_fields(
    vendor: str, sim: BaseSimulator, client: httpx.AsyncClient
) -> None:
    credential_path, _, _ = CHECKS[vendor]
    sim.inject(401, path_contains=credential_path)
    with pytest.raises(CredentialRefused):
        await make(vendor, sim, client, missing_list(vendor), UNKNOWN_FIELD).preflight()


async def test_a_missing_list_is_reported_over_missing_fields(
    vendor: str, sim: BaseSimulator, client: httpx.AsyncClient
) -> None:
    with pytest.raises(TargetNotFound):
        await make(vendor, sim, client, missing_list(vendor), UNKNOWN_FIELD).preflight()


async def test_missing_fields_are_reported_over_a_transient_failure_of_another_check(
    vendor: str, sim: BaseSimulator, client: httpx.AsyncClient
) -> None:
    target = new_target(vendor, sim)
    credential_path, list_path, _ = CHECKS[vendor]
    sim.inject(503, path_contains=list_path if vendor == "brevo" else credential_path)
    with pytest.raises(FieldsMissing) as caught:
        await make(vendor, sim, client, target, UNKNOWN_FIELD).preflight()
    assert caught.value.fields and "SHOE" in caught.value.fields[0].upper()


async def test_a_transient_failure_alone_is_reported_retryable(
    vendor: str, sim: BaseSimulator, client: httpx.AsyncClient
) -> None:
    target = new_target(vendor, sim)
    sim.inject(503, path_contains=CHECKS[vendor][0])
    with pytest.raises(VendorUnavailable):
        await make(vendor, sim, client, target, KNOWN_FIELD[vendor][0]).preflight()
    await make(vendor, sim, client, target, KNOWN_FIELD[vendor][0]).preflight()  # and passes once it is gone


class _GatheringTransport(httpx.AsyncBaseTransport):
    """Holds every request until ``expected`` are in flight together (or ``patience`` runs out, which a
    pre-flight that asks one question at a time always does), then lets them through."""

    def __init__(self, expected: int, patience: float = 3.0) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._expected = expected
        self._patience = patience
        self._all_in = asyncio.Event()
        self._in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)
        if self._in_flight >= self._expected:
            self._all_in.set()
        try:
            try:
                await asyncio.wait_for(self._all_in.wait(), self._patience)
            except TimeoutError:
                pass
            return await self._inner.handle_async_request(request)
        finally:
            self._in_flight -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_the_checks_of_one_preflight_are_all_in_flight_together(vendor: str, sim: BaseSimulator) -> None:
    target = new_target(vendor, sim)
    transport = _GatheringTransport(CHECKS[vendor][2])
    async with httpx.AsyncClient(transport=transport, timeout=10) as gathering:
        await make(vendor, sim, gathering, target, KNOWN_FIELD[vendor][0]).preflight()
    assert transport.peak == CHECKS[vendor][2]
