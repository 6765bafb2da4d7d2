"""A simulator in a process of its own (the benchmark's) takes the same switches over its pipe."""

from __future__ import annotations

import httpx

from simulators.remote import RemoteSimulator


def test_remote_simulator_takes_fault_profiles_and_job_plans() -> None:
    remote = RemoteSimulator("sendgrid", job_delay=0.01)
    remote.start()
    try:
        list_id = remote.create_target()
        headers = {"Authorization": f"Bearer {remote.api_key}"}
        remote.fault("server_error_burst", times=1, status=503)
        answers = [httpx.get(f"{remote.url}/v3/marketing/lists/{list_id}", headers=headers) for _ in range(2)]
        assert [a.status_code for a in answers] == [503, 200]
        remote.next_job("vanish")
        job = httpx.put(
            f"{remote.url}/v3/marketing/contacts",
            json={"list_ids": [list_id], "contacts": [{"email": "r@example.com"}]},
            headers=headers,
        ).json()["job_id"]
        assert httpx.get(f"{remote.url}/v3/marketing/contacts/imports/{job}", headers=headers).status_code == 404
    finally:
        remote.stop()
