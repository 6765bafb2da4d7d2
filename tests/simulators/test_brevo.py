"""The Brevo simulator driven by the official SDK (``brevo-python`` 5.1.0) through ``prism proxy --errors``
with the official spec (vendor_specs/brevo, merged; see devtools/prism.py): every process state, the
import report as Brevo gives it (file links, no counts), the read endpoints, 0 spec violations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from brevo import Brevo
from brevo.contacts.types import ImportContactsRequestJsonBodyItem, RemoveContactFromListRequestBodyEmails
from brevo.core.api_error import ApiError

from devtools.prism import PrismProxy
from simulators.brevo import BrevoSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[BrevoSimulator]:
    # Limits off: these tests poll quickly and are about states and shapes (the contract tests cover limits).
    with BrevoSimulator(job_delay=0.02, enforce_limits=False) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh_scenario(sim: BrevoSimulator) -> Iterator[None]:
    yield
    sim.scenario.clear()


@pytest.fixture(scope="module")
def prism(sim: BrevoSimulator, through_prism: Any) -> PrismProxy:
    proxy: PrismProxy = through_prism("brevo", sim.url)
    return proxy


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:  # given to the SDK so its connections are closed after
        yield client


def sdk(sim: BrevoSimulator, prism: PrismProxy, http: httpx.Client, key: str | None = None) -> Brevo:
    return Brevo(api_key=key or sim.api_key, base_url=prism.url + "/v3", max_retries=0, httpx_client=http)


def start_import(client: Brevo, list_id: str, emails: list[str]) -> int:
    items = [ImportContactsRequestJsonBodyItem(email=e, attributes={"FIRSTNAME": e[:3]}) for e in emails]
    return int(client.contacts.import_contacts(json_body=items, list_ids=[int(list_id)]).process_id)


def wait(client: Brevo, process_id: int, until: tuple[str, ...] = ("completed", "failed", "cancelled")) -> Any:
    deadline = time.monotonic() + 5
    while True:
        process = client.process.get_process(process_id)
        if process.status in until or time.monotonic() > deadline:
            return process
        time.sleep(0.02)


def test_completed_import_and_read_back(sim, prism, http) -> None:
    client = sdk(sim, prism, http)
    list_id = sim.create_target()
    process = wait(client, start_import(client, list_id, ["ann@example.com", "bob@example.com"]))
    assert process.status == "completed" and process.name == "IMPORTUSER"
    report = process.info.import_
    assert report is not None and report.invalid_emails is None and report.duplicate_email_id is None
    contact = client.contacts.get_contact_info("ann@example.com")
    assert contact.email == "ann@example.com" and contact.list_ids == [int(list_id)]
    assert contact.id and contact.created_at and contact.modified_at
    by_id = client.contacts.get_contact_info(str(contact.id))  # by id too ("Email OR ID of the contact")
    assert by_id.email == "ann@example.com" and by_id.statistics is not None
    page = client.contacts.get_contacts_from_list(int(list_id), limit=500)
    assert page.count == 2 and {c.email for c in page.contacts or []} == {"ann@example.com", "bob@example.com"}
    listed = client.contacts.get_list(int(list_id))
    assert listed.unique_subscribers == 2 and listed.total_subscribers == 2


def test_refused_rows_are_in_the_report_files_not_counts(sim, prism, http) -> None:
    client = sdk(sim, prism, http)
    list_id = sim.create_target()
    sim.scenario.next_job("completed", reject={"blocked@example.com": "invalid"})
    emails = ["kept@example.com", "blocked@example.com", "kept@example.com", "no-at-sign"]
    process = wait(client, start_import(client, list_id, emails))
    report = process.info.import_
    invalid = httpx.get(report.invalid_emails).text.splitlines()
    duplicates = httpx.get(report.duplicate_email_id).text.splitlines()
    assert invalid == ["email", "blocked@example.com", "no-at-sign"]
    assert duplicates == ["email", "kept@example.com"]
    assert set(sim.members(list_id)) == {"kept@example.com"}


@pytest.mark.parametrize("state", ["queued", "in_process"])
def test_a_process_can_stall_in_each_running_state(sim, prism, http, state) -> None:
    client = sdk(sim, prism, http)
    sim.scenario.next_job(state)
    process_id = start_import(client, sim.create_target(), ["wait@example.com"])
    time.sleep(0.15)
    assert client.process.get_process(process_id).status == state
    assert sim.subscription_status("wait@example.com", "0") is None  # nothing stored yet


def test_a_process_is_worked_on_from_acceptance_and_shows_each_state_in_its_time(http) -> None:
    """Queued for half the delay, in_process until the whole delay has passed, then completed — even when
    applying its items takes the simulator most of the delay (on shared cores, fourteen large imports
    did). Worked on only once it showed in_process, this one would still be in_process at the end."""
    with BrevoSimulator(job_delay=1.0, enforce_limits=False) as slow:
        applied = slow._apply

        def apply_slowly(*args: Any) -> None:
            time.sleep(0.003)  # 300 items: 0.9 s of the 1 s delay
            applied(*args)

        slow._apply = apply_slowly  # type: ignore[method-assign]
        client = Brevo(api_key=slow.api_key, base_url=slow.url + "/v3", max_retries=0, httpx_client=http)
        accepted = time.monotonic()
        process_id = start_import(client, slow.create_target(), [f"p{i}@example.com" for i in range(300)])

        def status_at(seconds: float) -> str:
            time.sleep(max(0.0, accepted + seconds - time.monotonic()))
            return str(client.process.get_process(process_id).status)

        assert status_at(0.2) == "queued"
        assert status_at(0.6) == "in_process"
        assert status_at(1.2) == "completed"


@pytest.mark.parametrize("state", ["failed", "cancelled"])
def test_failed_and_cancelled_processes_keep_only_what_was_applied(sim, prism, http, state) -> None:
    client = sdk(sim, prism, http)
    list_id = sim.create_target()
    sim.scenario.next_job(state, apply_first=1)
    process = wait(client, start_import(client, list_id, ["first@example.com", "second@example.com"]))
    assert process.status == state and process.info is None  # info only for completed imports
    assert set(sim.members(list_id)) == {"first@example.com"}


def test_vanished_process_and_unavailable_report(sim, prism, http) -> None:
    client = sdk(sim, prism, http)
    list_id = sim.create_target()
    sim.scenario.next_job("vanish")
    gone = start_import(client, list_id, ["v@example.com"])
    with pytest.raises(ApiError) as caught:
        client.process.get_process(gone)
    assert caught.value.status_code == 404
    process = wait(client, start_import(client, list_id, ["bad"]))
    sim.scenario.fault("error_file_unavailable", times=1)
    assert httpx.get(process.info.import_.invalid_emails).status_code == 403
    assert httpx.get(process.info.import_.invalid_emails).status_code == 200


def test_refusals_and_rate_limit_hints(sim, prism, http) -> None:
    client = sdk(sim, prism, http)
    with pytest.raises(ApiError) as caught:
        sdk(sim, prism, http, key="xkeysib-wrong").contacts.get_list(int(sim.create_target()))
    assert caught.value.status_code == 401
    with pytest.raises(ApiError) as caught:
        client.contacts.get_list(987654)
    assert caught.value.status_code == 404
    sim.scenario.fault("rate_limit_storm", times=1, path_contains="/contacts/lists/", seconds=2.0)
    with pytest.raises(ApiError) as caught:
        client.contacts.get_list(int(sim.create_target()))
    assert caught.value.status_code == 429
    assert caught.value.headers is not None and caught.value.headers["x-sib-ratelimit-reset"] == "2"


def test_an_import_never_clears_a_blocklist_flag_and_sets_it_only_when_asked(sim, prism, http) -> None:
    client = sdk(sim, prism, http)
    list_id = sim.create_target()
    sim.suppress("blocked@example.com", list_id)
    wait(client, start_import(client, list_id, ["blocked@example.com", "fresh@example.com"]))
    assert sim.subscription_status("blocked@example.com", list_id) == "blocklisted"
    items = [ImportContactsRequestJsonBodyItem(email="optout@example.com")]
    process_id = client.contacts.import_contacts(json_body=items, list_ids=[int(list_id)], email_blacklist=True)
    wait(client, int(process_id.process_id))
    assert client.contacts.get_contact_info("optout@example.com").email_blacklisted is True
    assert set(sim.members(list_id)) == {"fresh@example.com"}
    listed = client.contacts.get_list(int(list_id))  # the list's details count the blocklisted members
    assert (listed.total_blacklisted, listed.total_subscribers, listed.unique_subscribers) == (2, 1, 3)
    other = sim.create_target()
    sim.add_member("fresh@example.com", other)
    assert client.contacts.get_list(int(other)).total_blacklisted == 0  # another list's flags are not counted


def test_modified_since_lists_the_members_changed_after_the_moment_once_each(sim, prism, http) -> None:
    """``modifiedSince`` (what a refresh reads its suppressions with): the list's members changed after the
    moment, each once however often it changed, none changed only before it and none that left the list."""
    client = sdk(sim, prism, http)
    list_id = sim.create_target()
    wait(client, start_import(client, list_id, ["old@example.com", "twice@example.com", "leaver@example.com"]))
    time.sleep(0.01)  # the moment falls strictly between the two imports
    moment = time.time()
    time.sleep(0.01)
    wait(client, start_import(client, list_id, ["twice@example.com", "new@example.com", "leaver@example.com"]))
    wait(client, start_import(client, list_id, ["twice@example.com"]))
    leaving = RemoveContactFromListRequestBodyEmails(emails=["leaver@example.com"])
    client.contacts.remove_contact_from_list(int(list_id), request=leaving)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1000):03d}Z"
    page = client.contacts.get_contacts(list_ids=[int(list_id)], modified_since=since, limit=1000)
    assert page.count == 2 and sorted(c.email for c in page.contacts or []) == ["new@example.com", "twice@example.com"]
    everyone = client.contacts.get_contacts(list_ids=[int(list_id)], limit=1000)
    assert everyone.count == 3  # old, twice, new: the moment only narrows the read
