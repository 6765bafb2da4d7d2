"""Every non-happy state a vendor documents, switched on in its simulator (``sim.scenario``): the vendor
keeps some rows and drops others, and the adapter's per-row results must name exactly the dropped rows
with the vendor's reason — and never call a row ``upserted`` that the vendor did not keep. When the
vendor's answer cannot be read (a job that vanished, a report that cannot be downloaded), every row it
would have decided is ``failed`` with the reason, never assumed accepted.

The simulators are written apart from the adapters (tests/simulators/test_independence.py), so these
tests check the adapters against the vendors' documentation, not against themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from destinations.base import Contact, Outcome
from shared.errors import VendorUnavailable
from shared.pipeline.pacing import RetryPolicy, with_retries
from simulators import simulator_class
from simulators.base import BaseSimulator
from tests.contract.vendor_cases import adapter, upsert_all

U, R, F, S = Outcome.UPSERTED, Outcome.REJECTED, Outcome.FAILED, Outcome.SUPPRESSED
CONTACTS = [Contact(f"row{i}@example.com", {"first_name": f"Row{i}"}) for i in range(5)]
EMAILS = [c.email for c in CONTACTS]


@dataclass(frozen=True)
class JobCase:
    vendor: str
    state: str
    reject: dict[str, str] = field(default_factory=dict)
    apply_first: int | None = None
    fault: str | None = None
    # email → (outcome, a fragment of the reason); rows not named here must be upserted and kept
    expected: dict[str, tuple[Outcome, str]] = field(default_factory=dict)
    kept: tuple[str, ...] | None = None  # rows the vendor really stored (default: the upserted ones)

    @property
    def id(self) -> str:
        return (
            f"{self.vendor}-{self.state}"
            + (f"-{self.fault}" if self.fault else "")
            + (f"-first{self.apply_first}" if self.apply_first is not None else "")
        )


def everyone(outcome: Outcome, fragment: str) -> dict[str, tuple[Outcome, str]]:
    return {email: (outcome, fragment) for email in EMAILS}


JOB_CASES = [
    # SendGrid: "Errored means finished with some errors. Failed means finished with all errors."
    JobCase(
        "sendgrid",
        "errored",
        reject={EMAILS[1]: "email is on a blocklist", EMAILS[3]: "invalid address line"},
        expected={EMAILS[1]: (R, "email is on a blocklist"), EMAILS[3]: (R, "invalid address line")},
    ),
    JobCase("sendgrid", "failed", expected=everyone(R, "could not be processed")),
    JobCase(
        "sendgrid",
        "failed",
        apply_first=2,
        expected={e: (R, "could not be processed") for e in EMAILS[2:]},
    ),
    JobCase(
        "sendgrid",
        "errored",
        reject={EMAILS[0]: "bad"},
        fault="error_file_unavailable",
        expected=everyone(F, "could not be downloaded (HTTP 403)"),
        kept=tuple(EMAILS[1:]),
    ),
    JobCase("sendgrid", "vanish", expected=everyone(F, "HTTP 404"), kept=()),
    # Brevo: the completed process names dropped rows in its report files; failed/cancelled say nothing.
    JobCase(
        "brevo",
        "completed",
        reject={EMAILS[2]: "x"},
        expected={EMAILS[2]: (R, "invalid")},
    ),
    JobCase("brevo", "failed", apply_first=2, expected=everyone(F, "failed"), kept=tuple(EMAILS[:2])),
    JobCase("brevo", "cancelled", expected=everyone(F, "cancelled"), kept=()),
    JobCase(
        "brevo",
        "completed",
        reject={EMAILS[2]: "x"},
        fault="error_file_unavailable",
        expected=everyone(F, "could not be downloaded (HTTP 403)"),
        kept=tuple(e for e in EMAILS if e != EMAILS[2]),
    ),
    JobCase("brevo", "vanish", expected=everyone(F, "HTTP 404"), kept=()),
    # Omnisend: per-item results; a stopped batch never reached the later items.
    JobCase(
        "omnisend",
        "finished",
        reject={EMAILS[4]: "identifier belongs to another contact"},
        expected={EMAILS[4]: (R, "identifier belongs to another contact")},
    ),
    JobCase(
        "omnisend",
        "stopped",
        apply_first=3,
        reject={EMAILS[0]: "invalid phone"},
        expected={EMAILS[0]: (R, "invalid phone"), EMAILS[3]: (F, "stopped"), EMAILS[4]: (F, "stopped")},
    ),
    JobCase("omnisend", "vanish", expected=everyone(F, "HTTP 404"), kept=()),
]


@pytest.fixture
def make_sim() -> Iterator[type[BaseSimulator]]:
    started: list[BaseSimulator] = []

    def make(vendor: str) -> BaseSimulator:
        sim = simulator_class(vendor)(job_delay=0.01)
        sim.start()
        started.append(sim)
        return sim

    yield make  # type: ignore[misc]
    for sim in started:
        sim.stop()


@pytest.mark.parametrize("case", JOB_CASES, ids=lambda c: c.id)
async def test_job_outcomes_name_exactly_the_rows_the_vendor_dropped(case: JobCase, make_sim, client) -> None:
    sim = make_sim(case.vendor)
    target = sim.create_target()
    sim.scenario.next_job(case.state, reject=case.reject, apply_first=case.apply_first)
    if case.fault is not None:
        sim.scenario.fault(case.fault, times=5)
    outcomes = await upsert_all(adapter(case.vendor, sim, client, target), CONTACTS)

    expected = {e: case.expected.get(e, (U, "")) for e in EMAILS}
    assert {e: o for e, (o, _) in outcomes.items()} == {e: o for e, (o, _) in expected.items()}
    for email, (_, fragment) in expected.items():
        assert fragment in outcomes[email][1], (email, outcomes[email])
    upserted = {e for e, (o, _) in outcomes.items() if o is U}
    kept = set(case.kept) if case.kept is not None else upserted
    assert upserted <= set(sim.members(target)), "a row reported upserted is not in the vendor's list"
    assert set(sim.members(target)) == kept


@pytest.mark.parametrize(
    ("vendor", "state"),
    [("sendgrid", "pending"), ("brevo", "queued"), ("brevo", "in_process"), ("omnisend", "inProgress")],
)
async def test_a_stalled_job_is_never_reported_done(vendor: str, state: str, make_sim, client) -> None:
    sim = make_sim(vendor)
    target = sim.create_target()
    sim.scenario.next_job(state)
    dest = adapter(vendor, sim, client, target)
    await dest.prepare()
    batch = await dest.upsert(CONTACTS, [dest.encode_contact(c) for c in CONTACTS])
    assert batch.job is not None
    for _ in range(5):
        assert (await dest.poll(batch.job, CONTACTS)).done is False


async def test_404_on_a_job_poll_names_the_job_not_the_list(make_sim, client) -> None:
    sim = make_sim("sendgrid")
    target = sim.create_target()
    sim.scenario.next_job("vanish")
    dest = adapter("sendgrid", sim, client, target)
    await dest.prepare()
    batch = await dest.upsert(CONTACTS, [dest.encode_contact(c) for c in CONTACTS])
    assert batch.job is not None
    status = await dest.poll(batch.job, CONTACTS)
    assert status.done and status.results is not None
    for result in status.results:
        assert result.outcome is F
        assert str(batch.job["job_id"]) in (result.reason or "")
        assert "list" not in (result.reason or "")


async def test_omnisend_results_only_on_the_items_endpoint_are_read(make_sim, client) -> None:
    sim = make_sim("omnisend")
    sim.results_in_batch = False  # type: ignore[attr-defined]
    target = sim.create_target()
    sim.scenario.next_job("finished", reject={EMAILS[1]: "bad identifier"})
    outcomes = await upsert_all(adapter("omnisend", sim, client, target), CONTACTS)
    assert outcomes[EMAILS[1]] == (R, "bad identifier")
    assert all(outcomes[e][0] is U for e in EMAILS if e != EMAILS[1])
    assert any(r.path.endswith("/items") for r in sim.requests)


# ---- synchronous vendors: per-member answers ------------------------------------------------------


async def test_mailchimp_member_errors_each_get_their_own_outcome(make_sim, client) -> None:
    sim = make_sim("mailchimp")
    target = sim.create_target()
    sim.suppress("unsub@example.com", target)
    sim.clean("cleaned@example.com", target)  # type: ignore[attr-defined]
    sim.mark_bounced("bounced@example.com")  # type: ignore[attr-defined]
    contacts = [
        Contact("new@example.com", {"first_name": "N"}),
        Contact("unsub@example.com", {"first_name": "U"}),
        Contact("cleaned@example.com", {"first_name": "C"}),
        Contact("bounced@example.com", {"first_name": "B"}),
        Contact("fake@example.test", {"first_name": "F"}),
        Contact("new@example.com", {"first_name": "again"}),  # a duplicate in one batch is sent once
    ]
    outcomes = await upsert_all(adapter("mailchimp", sim, client, target), contacts)
    assert outcomes["new@example.com"] == (U, "")
    assert outcomes["unsub@example.com"][0] is S and "unsubscribed" in outcomes["unsub@example.com"][1]
    assert outcomes["cleaned@example.com"][0] is S and "cleaned" in outcomes["cleaned@example.com"][1]
    assert outcomes["bounced@example.com"][0] is S and "bounced" in outcomes["bounced@example.com"][1]
    assert outcomes["fake@example.test"][0] is R and "looks fake" in outcomes["fake@example.test"][1]
    assert set(sim.members(target)) == {"new@example.com"}
    first = next(r for r in sim.requests if r.method == "POST" and r.path.endswith(target))
    assert [m["email_address"] for m in first.json()["members"]].count("new@example.com") == 1
    assert sim.subscription_status("unsub@example.com", target) == "unsubscribed"
    assert sim.subscription_status("cleaned@example.com", target) == "cleaned"


async def test_mailchimp_invalid_merge_field_is_rejected_with_mailchimps_words(make_sim, client) -> None:
    sim = make_sim("mailchimp")
    target = sim.create_target()
    dest = adapter("mailchimp", sim, client, target)
    dest._tags["first_name"] = "NOSUCHTAG"  # type: ignore[attr-defined]  # a field deleted after pre-flight
    outcomes = await upsert_all(dest, [Contact("a@example.com", {"first_name": "A"}), Contact("b@example.com", {})])
    assert outcomes["a@example.com"][0] is R and "NOSUCHTAG" in outcomes["a@example.com"][1]
    assert outcomes["b@example.com"] == (U, "")
    assert set(sim.members(target)) == {"b@example.com"}


@pytest.mark.parametrize(
    ("state", "outcome", "fragment"),
    [("Unsubscribed", S, "unsubscribed"), ("Bounced", S, "bounced"), ("Deleted", S, "deleted")],
)
async def test_campaign_monitor_failure_codes(state: str, outcome: Outcome, fragment: str, make_sim, client) -> None:
    sim = make_sim("campaign_monitor")
    target = sim.create_target()
    sim.add_member("someone@example.com", target)
    sim.set_state("someone@example.com", target, state)  # type: ignore[attr-defined]
    contacts = [
        Contact("someone@example.com", {"first_name": "S"}),
        Contact("bad-address@example.test", {"first_name": "B"}),
        Contact("fine@example.com", {"first_name": "F"}),
    ]
    outcomes = await upsert_all(adapter("campaign_monitor", sim, client, target), contacts)
    assert outcomes["someone@example.com"][0] is outcome and fragment in outcomes["someone@example.com"][1]
    assert outcomes["bad-address@example.test"][0] is R
    assert "Invalid Email Address" in outcomes["bad-address@example.test"][1]
    assert outcomes["fine@example.com"] == (U, "")
    assert set(sim.members(target)) == {"fine@example.com"}
    assert sim.subscription_status("someone@example.com", target) != "Active"


UPSERT_CALL = {
    "sendgrid": ("PUT", "/v3/marketing/contacts"),
    "brevo": ("POST", "/v3/contacts/import"),
    "omnisend": ("POST", "/api/batches"),
    "mailchimp": ("POST", "/3.0/lists/"),
    "campaign_monitor": ("POST", "/import.json"),
}


@pytest.mark.parametrize("vendor", sorted(UPSERT_CALL))
async def test_an_answer_cut_in_half_is_retried_never_guessed(vendor: str, make_sim, client) -> None:
    sim = make_sim(vendor)
    target = sim.create_target()
    dest = adapter(vendor, sim, client, target)
    method, path = UPSERT_CALL[vendor]
    sim.scenario.fault("malformed_json", times=1, path_contains=path, method=method)
    outcomes = await with_retries(lambda: upsert_all(dest, CONTACTS), RetryPolicy(3, base=0.01))
    assert all(outcomes[e] == (U, "") for e in EMAILS)
    assert set(sim.members(target)) == set(EMAILS)
    sim.scenario.fault("malformed_json", times=10, path_contains=path, method=method)
    encoded = [dest.encode_contact(c) for c in CONTACTS]
    with pytest.raises(VendorUnavailable, match="could not be read"):
        await with_retries(lambda: dest.upsert(CONTACTS, encoded), RetryPolicy(2, base=0.01))
