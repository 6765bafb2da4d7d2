"""The SendGrid simulator driven by the official SDK (``sendgrid`` 6.12.5) through ``prism proxy --errors``
with the official spec (vendor_specs/sendgrid): every documented job state, the error file, partial
acceptance, the read endpoints, and 0 spec violations in the simulator's answers."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from devtools.prism import PrismProxy
from simulators.sendgrid import SendGridSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SendGridSimulator]:
    # Limits off: these tests poll quickly and are about states and shapes (the contract tests cover limits).
    with SendGridSimulator(job_delay=0.01, enforce_limits=False) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh_scenario(sim: SendGridSimulator) -> Iterator[None]:
    yield
    sim.scenario.clear()


@pytest.fixture(scope="module")
def prism(sim: SendGridSimulator, through_prism: Any) -> PrismProxy:
    proxy: PrismProxy = through_prism("sendgrid", sim.url)
    return proxy


def sdk(sim: SendGridSimulator, prism: PrismProxy, key: str | None = None) -> Any:
    return SendGridAPIClient(api_key=key or sim.api_key, host=prism.url).client


def body(response: Any) -> Any:
    return json.loads(response.body)


def upsert(client: Any, list_id: str, emails: list[str]) -> str:
    contacts = [{"email": e, "first_name": e.split("@")[0][:50]} for e in emails]
    response = client.marketing.contacts.put(request_body={"list_ids": [list_id], "contacts": contacts})
    assert response.status_code == 202
    return str(body(response)["job_id"])


def wait_job(client: Any, job_id: str, *, until: tuple[str, ...] = ("completed", "errored", "failed")) -> Any:
    deadline = time.monotonic() + 5
    while True:
        job = body(client.marketing.contacts.imports._(job_id).get())
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def test_completed_job_and_read_back(sim, prism) -> None:
    client = sdk(sim, prism)
    list_id = sim.create_target()
    job = wait_job(client, upsert(client, list_id, ["ann@example.com", "bob@example.com"]))
    assert job["status"] == "completed" and job["results"]["created_count"] == 2
    assert "errors_url" not in job["results"] and "finished_at" in job
    found = body(client.marketing.contacts.search.emails.post(request_body={"emails": ["ann@example.com"]}))
    contact = found["result"]["ann@example.com"]["contact"]
    assert contact["list_ids"] == [list_id] and contact["first_name"] == "ann"
    by_id = body(client.marketing.contacts._(contact["id"]).get())
    assert by_id["email"] == "ann@example.com" and by_id["created_at"].endswith("Z")
    ids = {uuid.UUID(body(client.marketing.contacts._(c["id"]).get())["id"]) for c in (contact, found_bob(client))}
    assert len(ids) == 2 and all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)  # ids as SendGrid's
    assert body(client.marketing.lists._(list_id).contacts.count.get())["contact_count"] == 2
    assert body(client.marketing.lists._(list_id).get())["contact_count"] == 2
    assert body(client.marketing.contacts.count.get())["contact_count"] == 2


def found_bob(client: Any) -> Any:
    found = body(client.marketing.contacts.search.emails.post(request_body={"emails": ["bob@example.com"]}))
    return found["result"]["bob@example.com"]["contact"]


def test_errored_job_keeps_the_other_rows_and_names_the_refused_ones(sim, prism) -> None:
    client = sdk(sim, prism)
    list_id = sim.create_target()
    sim.scenario.next_job("errored", reject={"bad@example.com": "email address is on a block list"})
    job = wait_job(client, upsert(client, list_id, ["good@example.com", "bad@example.com"]))
    assert job["status"] == "errored"
    assert job["results"]["errored_count"] == 1 and job["results"]["created_count"] == 1
    errors_url = job["results"]["errors_url"]
    rows = list(csv.DictReader(io.StringIO(httpx.get(errors_url).text)))  # a download host, not the API
    assert rows == [{"email": "bad@example.com", "error": "email address is on a block list"}]
    assert set(sim.members(list_id)) == {"good@example.com"}


def test_failed_job_stores_nothing(sim, prism) -> None:
    client = sdk(sim, prism)
    list_id = sim.create_target()
    sim.scenario.next_job("failed")
    job = wait_job(client, upsert(client, list_id, ["x@example.com", "y@example.com"]))
    assert job["status"] == "failed" and job["results"]["errored_count"] == 2
    assert sim.members(list_id) == {}


def test_pending_job_stays_pending_and_a_vanished_job_is_404(sim, prism) -> None:
    client = sdk(sim, prism)
    list_id = sim.create_target()
    sim.scenario.next_job("pending")
    stalled = upsert(client, list_id, ["slow@example.com"])
    time.sleep(0.1)
    assert body(client.marketing.contacts.imports._(stalled).get())["status"] == "pending"
    sim.scenario.next_job("vanish")
    gone = upsert(client, list_id, ["gone@example.com"])
    with pytest.raises(HTTPError) as caught:
        client.marketing.contacts.imports._(gone).get()
    assert caught.value.status_code == 404


def test_error_file_that_cannot_be_downloaded(sim, prism) -> None:
    client = sdk(sim, prism)
    list_id = sim.create_target()
    sim.scenario.next_job("errored")
    job = wait_job(client, upsert(client, list_id, ["a1@example.com", "a2@example.com"]))
    sim.scenario.fault("error_file_unavailable", times=2)
    assert [httpx.get(job["results"]["errors_url"]).status_code for _ in range(3)] == [403, 403, 200]


def test_refusals_are_shaped_as_the_spec_says(sim, prism) -> None:
    client = sdk(sim, prism)
    with pytest.raises(HTTPError) as caught:
        sdk(sim, prism, key="SG.wrong").marketing.lists._(sim.create_target()).get()
    assert caught.value.status_code == 401
    with pytest.raises(HTTPError) as caught:
        client.marketing.lists._("no-such-list").get()
    assert caught.value.status_code == 404
    with pytest.raises(HTTPError) as caught:
        client.marketing.contacts.put(request_body={"contacts": [{"email": "not-an-address"}]})
    assert caught.value.status_code == 400
    assert json.loads(caught.value.body)["errors"][0]["field"] == "contacts[0].email"


def test_rate_limit_storm_carries_whole_second_reset_and_stops(sim, prism) -> None:
    client = sdk(sim, prism)
    list_id = sim.create_target()
    sim.scenario.fault("rate_limit_storm", times=2, path_contains="/lists/", seconds=0.2)
    for _ in range(2):
        with pytest.raises(HTTPError) as caught:
            client.marketing.lists._(list_id).get()
        assert caught.value.status_code == 429
        headers = caught.value.headers
        reset = headers["X-RateLimit-Reset"]
        assert reset.isdigit() and int(reset) >= int(time.time())  # an epoch in whole seconds
        assert headers["X-RateLimit-Remaining"] == "0"
    assert client.marketing.lists._(list_id).get().status_code == 200  # the storm stopped by itself
    assert sim.scenario.pending_faults() == 0
