"""Every fault profile of ``sim.scenario.fault`` on every simulator: each answers as the vendor would
(its documented hint headers and error shape), stops by itself after ``times`` answers or ``for_seconds``,
and the simulator serves normally again."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulators import REGISTRY, simulator_class
from simulators.base import FAULT_PROFILES, MAX_FAULT_TIMES, BaseSimulator

VENDORS = sorted(REGISTRY)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def probe(sim: BaseSimulator) -> tuple[str, dict[str, str]]:
    """A cheap authenticated read of each vendor: (path, headers)."""
    target = sim.create_target("probe-target" if sim.vendor not in ("brevo",) else "7")
    key = sim.api_key
    return {
        "sendgrid": (f"/v3/marketing/lists/{target}", {"Authorization": f"Bearer {key}"}),
        "brevo": (f"/v3/contacts/lists/{target}", {"api-key": key}),
        "omnisend": ("/api/contacts", {"Authorization": f"Omnisend-API-Key {key}", "Omnisend-Version": "2026-03-15"}),
        "mailchimp": (f"/3.0/lists/{target}", {"Authorization": basic("any", key)}),
        "campaign_monitor": (f"/api/v3.3/lists/{target}.json", {"Authorization": basic(key, "x")}),
    }[sim.vendor]


@pytest.fixture(params=VENDORS)
def sim(request: pytest.FixtureRequest) -> Iterator[BaseSimulator]:
    with simulator_class(request.param)() as simulator:
        yield simulator


def get(sim: BaseSimulator, timeout: float = 5.0) -> httpx.Response:
    path, headers = probe(sim)
    return httpx.get(sim.url + path, headers=headers, timeout=timeout)


def test_rate_limit_storm_with_the_vendors_hints(sim) -> None:
    sim.scenario.fault("rate_limit_storm", times=2, seconds=3)
    storm = [get(sim) for _ in range(3)]
    assert [r.status_code for r in storm] == [429, 429, 200]
    limited = storm[0]
    hints = {
        "sendgrid": lambda r: int(r.headers["X-RateLimit-Reset"]) >= int(time.time()) + 2,  # epoch, whole seconds
        "brevo": lambda r: r.headers["x-sib-ratelimit-reset"] == "3",  # seconds left
        "omnisend": lambda r: r.json()["retryAfter"] == 3,  # RateLimitProblem.retryAfter, an integer
        "mailchimp": lambda r: r.json()["status"] == 429,  # no hint headers are documented
        "campaign_monitor": lambda r: r.json() == {"Code": 429, "Message": "Rate limit exceeded"},
    }
    assert hints[sim.vendor](limited), limited.headers
    assert sim.rate_limited_count == 2


def test_server_error_burst_in_the_vendors_error_shape(sim) -> None:
    sim.scenario.fault("server_error_burst", times=2, status=502)
    answers = [get(sim) for _ in range(3)]
    assert [r.status_code for r in answers] == [502, 502, 200]
    assert isinstance(answers[0].json(), dict)  # a JSON error body, as the vendor's other errors


def test_slow_answers_pass_a_client_timeout(sim) -> None:
    sim.scenario.fault("slow_answers", times=1, seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        get(sim, timeout=0.1)
    assert get(sim).status_code == 200


def test_connection_reset_mid_request(sim) -> None:
    sim.scenario.fault("connection_reset", times=1)
    with pytest.raises(httpx.TransportError):
        get(sim)
    assert get(sim).status_code == 200


def test_malformed_json_keeps_the_status(sim) -> None:
    sim.scenario.fault("malformed_json", times=1)
    broken = get(sim)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert get(sim).json()


def test_faults_stop_by_time_as_well_as_count(sim) -> None:
    sim.scenario.fault("server_error_burst", times=MAX_FAULT_TIMES * 10, for_seconds=0.2)
    assert get(sim).status_code == 503
    time.sleep(0.25)
    assert get(sim).status_code == 200
    assert sim.scenario.pending_faults() == 0


def test_job_profiles_apply_to_asynchronous_vendors_only(sim) -> None:
    profiles = set(sim.fault_profiles())
    if sim.job_states:
        assert profiles == set(FAULT_PROFILES) - ({"error_file_unavailable"} if sim.error_file_path is None else set())
        sim.scenario.fault("job_fails", times=1)
        sim.scenario.fault("job_stalls", times=1)
        sim.scenario.fault("job_vanishes", times=1)
        states = [plan.state for plan in iter(sim.scenario.take_job_plan, None)]
        assert states == [sim.job_failed_state, sim.job_states[0], "vanish"]
    else:
        assert not profiles & {"job_fails", "job_stalls", "job_vanishes", "error_file_unavailable"}
        with pytest.raises(ValueError, match="synchronously"):
            sim.scenario.fault("job_fails")


def test_a_reset_after_apply_leaves_the_outcome_unknown_to_the_client() -> None:
    # The worst case for an integrator: the vendor kept the rows, the client saw the connection drop.
    with simulator_class("campaign_monitor")() as sim:
        list_id = sim.create_target()
        sim.scenario.fault("connection_reset", times=1, apply=True, path_contains="/import.json")
        body: dict[str, Any] = {
            "Subscribers": [{"EmailAddress": "kept@example.com", "Name": "K"}],
            "Resubscribe": False,
        }
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"{sim.url}/api/v3.3/subscribers/{list_id}/import.json",
                json=body,
                auth=(sim.api_key, "x"),
            )
        assert set(sim.members(list_id)) == {"kept@example.com"}


def test_switches_refuse_what_the_vendor_does_not_have() -> None:
    sendgrid = simulator_class("sendgrid")()
    with pytest.raises(ValueError, match="pending, completed, errored, failed"):
        sendgrid.scenario.next_job("in_process")
    with pytest.raises(ValueError, match="unknown fault profile"):
        sendgrid.scenario.fault("earthquake")
    with pytest.raises(ValueError, match="no error file"):
        simulator_class("omnisend")().scenario.fault("error_file_unavailable")
