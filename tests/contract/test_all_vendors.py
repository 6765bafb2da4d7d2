"""One contract suite over every adapter in the registry, each against its vendor's simulator:
credential refused, list missing, rate limited (and paced retry), partial rejection per row,
compliance → suppressed, secrets never in messages, removal per the default policy."""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from destinations import destination_class
from destinations.base import Contact, Outcome, RemovalPolicy
from shared.errors import CredentialRefused, RateLimited, TargetNotFound, VendorUnavailable
from shared.pipeline.pacing import RetryPolicy, with_retries
from simulators import simulator_class
from simulators.base import BaseSimulator
from tests.contract.vendor_cases import CASES, adapter, upsert_all, wait_for_job

VENDORS = sorted(CASES)
WITH_LISTS = [v for v in VENDORS if CASES[v].has_lists]


@pytest.fixture(params=VENDORS)
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sim(vendor: str) -> Iterator[BaseSimulator]:
    with simulator_class(vendor)(job_delay=0.01) as simulator:
        yield simulator


def test_every_registered_vendor_is_one_package_with_its_own_facts() -> None:
    """A vendor is one folder (adapter, documented constants, profile) plus one registry line."""
    from destinations import REGISTRY, vendor_profile, vendors
    from destinations.base import Destination

    for vendor in vendors():
        package = REGISTRY[vendor].partition(":")[0]
        for module in ("adapter", "constants", "profile"):
            importlib.import_module(f"{package}.{module}")
        cls = destination_class(vendor)
        assert issubclass(cls, Destination) and cls.vendor == vendor
        assert cls.display_name and cls.limits and cls.removal_policies
        profile = vendor_profile(vendor)
        assert profile.demo_mapping["email"] == "email" and profile.bench.latency > 0
        assert CASES[vendor] is profile.contract


def test_optional_capabilities_are_declared_never_discovered() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("destinations/**/*.py"), *root.glob("shared/pipeline/*.py")]
    offenders = [
        str(path.relative_to(root))
        for path in sources
        if re.search(r"\bhasattr\(|getattr\((destination|dest|adapter)\b", path.read_text())
    ]
    assert offenders == []


async def test_refused_credential(vendor, sim, client) -> None:
    target = sim.create_target()
    wrong = "wrong-" + uuid.uuid4().hex
    with pytest.raises(CredentialRefused) as caught:
        await adapter(vendor, sim, client, target, key=wrong).preflight()
    assert caught.value.status in (401, 403)
    assert wrong not in str(caught.value) and wrong not in repr(caught.value.args)


@pytest.mark.parametrize("vendor", WITH_LISTS, indirect=True)
async def test_missing_list(vendor, sim, client) -> None:
    sim.create_target()
    with pytest.raises(TargetNotFound, match="does not exist"):
        await adapter(vendor, sim, client, str(uuid.uuid4())).preflight()


async def test_rate_limited_then_paced_retry_succeeds(vendor, sim, client) -> None:
    target = sim.create_target()
    dest = adapter(vendor, sim, client, target)
    contact = Contact("paced@example.com", {"first_name": "Pat"})
    sim.inject(429, times=1, headers={"Retry-After": "0.05"})
    with pytest.raises(RateLimited) as caught:
        await upsert_all(dest, [contact])
    assert caught.value.retry_after is not None and caught.value.retry_after <= 1
    sim.inject(429, times=2, headers={"Retry-After": "0.01"})
    outcomes = await with_retries(lambda: upsert_all(dest, [contact]), RetryPolicy(5, base=0.01))
    assert outcomes["paced@example.com"][0] is Outcome.UPSERTED
    assert "paced@example.com" in sim.members(target)


async def test_server_errors_are_retryable(vendor, sim, client) -> None:
    target = sim.create_target()
    sim.inject(503, times=1)
    with pytest.raises(VendorUnavailable):
        await adapter(vendor, sim, client, target).preflight()


async def test_partial_rejection_is_per_row(vendor, sim, client) -> None:
    target = sim.create_target()
    case = CASES[vendor]
    good = [Contact(f"good{i}@example.com", {"first_name": f"G{i}"}) for i in range(3)]
    outcomes = await upsert_all(adapter(vendor, sim, client, target), [good[0], case.refused, *good[1:]])
    assert outcomes[case.refused.email][0] is Outcome.REJECTED
    assert case.refused_reason in outcomes[case.refused.email][1]
    assert all(outcomes[c.email][0] is Outcome.UPSERTED for c in good)
    assert set(sim.members(target)) == {c.email for c in good}


async def test_compliance_refusal_is_suppressed_and_never_resubscribed(vendor, sim, client) -> None:
    target = sim.create_target()
    sim.suppress("gone@example.com", target, {"first_name": "Before"})
    before = sim.subscription_status("gone@example.com", target)
    outcomes = await upsert_all(
        adapter(vendor, sim, client, target),
        [Contact("gone@example.com", {"first_name": "After"}), Contact("new@example.com", {"first_name": "N"})],
    )
    assert outcomes["gone@example.com"][0] is Outcome.SUPPRESSED
    assert outcomes["new@example.com"][0] is Outcome.UPSERTED
    assert sim.subscription_status("gone@example.com", target) == before
    assert "gone@example.com" not in sim.members(target)


async def test_default_removal_is_the_least_destructive(vendor, sim, client) -> None:
    assert RemovalPolicy.REMOVE_FROM_LIST in destination_class(vendor).removal_policies
    target = sim.create_target()
    sim.add_member("leaver@example.com", target)
    sim.add_member("stayer@example.com", target)
    dest = adapter(vendor, sim, client, target)
    batch = await dest.remove([Contact("leaver@example.com"), Contact("stranger@example.com")])
    results = batch.results
    if batch.job is not None:
        results = (
            await wait_for_job(dest, batch.job, [Contact("leaver@example.com"), Contact("stranger@example.com")])
        ).results
    assert results is not None
    assert {r.email: r.outcome for r in results} == {
        "leaver@example.com": Outcome.REMOVED,
        "stranger@example.com": Outcome.REMOVED,
    }
    assert set(sim.members(target)) == {"stayer@example.com"}
    assert sim.removed_emails().count("leaver@example.com") == 1
