"""The Omnisend simulator through ``prism proxy --errors`` with the 2026-03-15 specs (vendor_specs/omnisend;
Omnisend publishes no Python SDK, so plain HTTP as its reference shows): batch states, per-item results at
``/batches/{batchID}/items``, the read endpoints, an integer ``retryAfter``, 0 spec violations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.prism import PrismProxy
from simulators.omnisend import API_VERSION, OmnisendSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[OmnisendSimulator]:
    with OmnisendSimulator(job_delay=0.02) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh_scenario(sim: OmnisendSimulator) -> Iterator[None]:
    yield
    sim.scenario.clear()


@pytest.fixture(scope="module")
def api(sim: OmnisendSimulator, through_prism: Any) -> Iterator[httpx.Client]:
    prism: PrismProxy = through_prism("omnisend", sim.url)
    headers = {"Authorization": f"Omnisend-API-Key {sim.api_key}", "Omnisend-Version": API_VERSION}
    with httpx.Client(base_url=prism.url + "/api", headers=headers, timeout=10) as client:
        yield client


def contact(email: str, **fields: Any) -> dict[str, Any]:
    identifier = {"type": "email", "id": email, "channels": {"email": {"status": "subscribed"}}}
    return {"identifiers": [identifier], "tags": ["segment-a"], **fields}


def create(api: httpx.Client, items: list[dict[str, Any]]) -> str:
    response = api.post("/batches", json={"method": "POST", "endpoint": "contacts", "items": items})
    assert response.status_code == 201, response.text
    return str(response.json()["batchID"])


def wait(api: httpx.Client, batch_id: str, until: tuple[str, ...] = ("finished", "stopped")) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        batch: dict[str, Any] = api.get(f"/batches/{batch_id}").json()
        if batch["status"] in until or time.monotonic() > deadline:
            return batch
        time.sleep(0.02)


def test_finished_batch_counts_on_the_batch_and_results_at_items(api, sim) -> None:
    batch_id = create(api, [contact("ann@example.com", firstName="Ann"), contact("bad@example.invalid")])
    batch = wait(api, batch_id)
    assert batch["status"] == "finished" and batch["finishedCount"] == 2 and batch["errorsCount"] == 1
    assert "responses" not in batch and "errors" not in batch  # the stricter reading: results live at /items
    items = api.get(f"/batches/{batch_id}/items").json()
    assert [r["request"]["identifiers"][0]["id"] for r in items["responses"]] == ["ann@example.com"]
    assert items["responses"][0]["responseCode"] == 201
    assert [e["request"]["identifiers"][0]["id"] for e in items["errors"]] == ["bad@example.invalid"]
    found = api.get("/contacts", params={"email": "ann@example.com"}).json()["contacts"]
    assert len(found) == 1 and found[0]["firstName"] == "Ann" and found[0]["status"] == "subscribed"
    one = api.get(f"/contacts/{found[0]['id']}").json()
    assert one["email"] == "ann@example.com" and one["tags"] == ["segment-a"]
    assert set(sim.members("segment-a")) >= {"ann@example.com"}


def test_in_progress_stall_stopped_and_vanished_batches(api, sim) -> None:
    sim.scenario.next_job("inProgress")
    stalled = create(api, [contact("slow@example.com")])
    time.sleep(0.15)
    assert api.get(f"/batches/{stalled}").json()["status"] == "inProgress"
    sim.scenario.next_job("stopped", apply_first=1)
    stopped = wait(api, create(api, [contact("one@example.com"), contact("two@example.com")]))
    assert stopped["status"] == "stopped" and stopped["finishedCount"] == 1
    items = api.get(f"/batches/{stopped['batchID']}/items").json()
    assert len(items["responses"]) == 1 and items["errors"] == []  # the second item was never processed
    sim.scenario.next_job("vanish")
    gone = create(api, [contact("gone@example.com")])
    assert api.get(f"/batches/{gone}").status_code == 404
    assert api.get(f"/batches/{gone}/items").status_code == 404


def test_partial_acceptance_names_the_refused_items(api, sim) -> None:
    sim.scenario.next_job("finished", reject={"nope@example.com": "identifiers.0.id: contact is blocked"})
    batch_id = create(api, [contact("yes@example.com"), contact("nope@example.com")])
    wait(api, batch_id)
    items = api.get(f"/batches/{batch_id}/items").json()
    assert items["errors"][0]["response"]["detail"] == "identifiers.0.id: contact is blocked"
    assert sim.subscription_status("nope@example.com", "segment-a") is None


def test_rate_limit_storm_has_integer_retry_after(api, sim) -> None:
    sim.scenario.fault("rate_limit_storm", times=2, path_contains="/contacts", seconds=0.3)
    answers = [api.get("/contacts", params={"limit": 1}) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json()["retryAfter"] == 1 and isinstance(answers[0].json()["retryAfter"], int)


def test_refusals_are_problems(api, sim) -> None:
    assert api.get("/contacts", headers={"Authorization": "Omnisend-API-Key wrong"}).status_code == 401
    too_many = {"method": "POST", "endpoint": "contacts", "items": [contact(f"c{i}@example.com") for i in range(101)]}
    # 101 items violate the request schema: asked of the simulator directly, not through Prism.
    direct = httpx.post(f"{sim.url}/api/batches", json=too_many, headers=dict(api.headers))
    assert direct.status_code == 400 and direct.json()["errors"][0]["field"] == "items"


def test_a_status_read_lists_that_status_only_through_every_change(api, sim) -> None:
    """``status=unsubscribed`` (the read-back of a run) lists the contacts in that status now: one that
    unsubscribed, not one whose status a batch changed back, not one in another status; with ``email`` too,
    only that contact if it is in the status."""
    sim.suppress("gone@example.com", "segment-s")
    sim.suppress("back@example.com", "segment-s")
    sim.add_member("here@example.com", "segment-s")
    wait(api, create(api, [contact("back@example.com")]))  # the batch sends "subscribed": Omnisend applies it
    unsubscribed = api.get("/contacts", params={"status": "unsubscribed", "limit": 250}).json()["contacts"]
    assert [c["email"] for c in unsubscribed] == ["gone@example.com"]
    one = api.get("/contacts", params={"status": "unsubscribed", "email": "here@example.com"}).json()["contacts"]
    assert one == []
