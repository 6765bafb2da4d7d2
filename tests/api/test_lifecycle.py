"""Connections and runs over HTTP, end to end: a canary credential leaks nowhere, ETags guard writes,
a dry run writes nothing to the vendor, one run per export, cancel and delete stop the orchestration."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import pytest

from shared.orchestration.names import instance_id_for
from shared.pipeline.layout import snapshot_manifest
from tests.api.conftest import Harness


def _sendgrid_key(tag: str) -> str:
    """A SendGrid-shaped key (SG.<22>.<43>) that is unmistakable wherever it turns up."""
    body = (tag + uuid.uuid4().hex + uuid.uuid4().hex)[:43]
    return f"SG.{uuid.uuid4().hex[:22]}.{body}"


def _wait_running_with_id(h: Harness, export_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view: dict[str, Any] = h.call("GET", f"/api/exports/{export_id}/runs/current").json()
        if view["status"] == "running" and view["run_id"]:
            return view
        time.sleep(0.02)
    raise AssertionError(f"no planned run of {export_id} within {timeout}s")


def _blobs(h: Harness) -> dict[str, bytes]:
    found = {}
    for store in (h.env.runtime.store, h.env.runtime.segments):
        for name in store.list_names(""):
            found[f"{store.container.container_name}/{name}"] = store.read_bytes(name)
    return found


def test_a_canary_credential_appears_in_no_response_log_blob_or_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness
    first, second = _sendgrid_key("CANARYONE"), _sendgrid_key("CANARYTWO")
    h.env.simulator.api_key = first

    created = h.create_connection("canary", credential=first)
    assert created["credential_set"] is True and "credential" not in created
    tested = h.call("POST", "/api/connections/canary/test", json={"target_id": h.env.target_id})
    assert tested.json()["ok"] is True, tested.text
    h.create_export("canary-export", "canary")
    assert h.call("POST", "/api/exports/canary-export/runs", json={}).status_code == 202
    assert h.wait_for_run("canary-export")["status"] == "succeeded"

    etag = h.call("GET", "/api/connections/canary").headers["ETag"]
    rotated = h.call(
        "PUT", "/api/connections/canary/credential", json={"credential": second}, headers={"If-Match": etag}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["credential_updated_at"] > created["credential_updated_at"]
    h.env.simulator.api_key = second
    assert h.call("POST", "/api/connections/canary/test", json={"target_id": h.env.target_id}).json()["ok"] is True
    # A refused credential is named in words, without echoing it.
    h.env.simulator.api_key = first
    refused = h.call("POST", "/api/connections/canary/test", json={"target_id": h.env.target_id}).json()
    assert refused == {**refused, "ok": False, "check": "credential_refused"}
    h.env.simulator.api_key = second

    # Delete while a run is going: the orchestration is terminated, the secret deleted via SecretClient.
    h.env.simulator.latency = 0.3
    assert h.call("POST", "/api/exports/canary-export/runs", json={"full_resync": True}).status_code == 202
    running = _wait_running_with_id(h, "canary-export")
    secret_name = h.env.configs.get_connection("canary")[0].secret_name
    assert secret_name in h.env.keyvault.secrets
    etag = h.call("GET", "/api/connections/canary").headers["ETag"]
    assert h.call("DELETE", "/api/connections/canary", headers={"If-Match": etag}).status_code == 204
    h.env.simulator.latency = 0.0

    assert secret_name not in h.env.keyvault.secrets and secret_name in h.env.keyvault.deleted
    assert ("DELETE", f"/secrets/{secret_name}", True) in h.env.keyvault.requests  # authenticated SecretClient call
    instance = h.env.host.instances[instance_id_for("canary-export")]
    assert instance.status.value == "Terminated"
    assert instance.output == "connection canary deleted"  # the termination reason
    cancelled = h.call("GET", f"/api/exports/canary-export/runs/{running['run_id']}").json()
    assert cancelled["status"] == "cancelled"
    export = h.call("GET", "/api/exports/canary-export").json()
    assert export["schedule_enabled"] is False  # the timer skips it
    assert h.call("GET", "/api/connections/canary").status_code == 404

    texts = {"response": [], "log": [], "blob": []}  # type: dict[str, list[str]]
    for response in h.seen:
        texts["response"].append(response.text + repr(dict(response.headers)))
    for record in caplog.records:
        texts["log"].append(record.getMessage() + (record.exc_text or "") + repr(record.args))
    for name, data in _blobs(h).items():
        texts["blob"].append(name + data.decode("utf-8", "replace"))
    assert len(texts["response"]) > 10 and texts["log"] and len(texts["blob"]) > 5
    for canary in (first, second):
        for kind, items in texts.items():
            leaks = [t[:200] for t in items if canary in t]
            assert not leaks, f"the credential leaked into a {kind}: {leaks}"


def test_two_updates_with_the_same_etag_one_wins_the_other_gets_412(harness: Harness) -> None:
    h = harness
    h.create_connection("main")
    etag = h.create_export("weekly", "main")["etag"]
    results: list[int] = []

    def update(name: str) -> None:
        body = h.export_body("weekly", "main", name=name)
        results.append(h.call("PUT", "/api/exports/weekly", json=body, headers={"If-Match": etag}).status_code)

    threads = [threading.Thread(target=update, args=(f"edit {i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 412]

    missing = h.call("PUT", "/api/exports/weekly", json=h.export_body("weekly", "main"))
    assert missing.status_code == 428
    assert missing.json()["field"] == "header.If-Match"
    stale = h.call("DELETE", "/api/exports/weekly", headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"

    conn_etag = h.call("GET", "/api/connections/main").headers["ETag"]
    statuses = [
        h.call(
            "PUT",
            "/api/connections/main",
            json={"display_name": f"n{i}", "privacy_consent_accepted": True},
            headers={"If-Match": conn_etag},
        ).status_code
        for i in range(2)
    ]
    assert statuses == [200, 412]
    assert h.call("DELETE", "/api/connections/main").status_code == 428


def test_a_dry_run_started_over_http_writes_nothing_to_the_vendor(harness: Harness) -> None:
    h = harness
    h.create_connection("main")
    h.create_export("weekly", "main", sync_mode="mirror")
    h.env.simulator.reset_log()
    started = h.call("POST", "/api/exports/weekly/runs", json={"dry_run": True})
    assert started.status_code == 202
    view = h.wait_for_run("weekly")
    assert view["status"] == "dry_run", view
    assert view["dry_run"] is True and view["profiles_read"] == h.sample.rows
    assert h.env.simulator.requests, "the dry run did not even read from the vendor"
    assert h.env.simulator.writes() == []
    assert h.env.simulator.members(h.env.target_id) == {}


def test_one_run_per_export_cancel_terminates_and_commits_nothing(harness: Harness) -> None:
    h = harness
    h.create_connection("main", shared=True)
    h.create_export("weekly", "main")
    h.env.simulator.latency = 0.3
    assert h.call("POST", "/api/exports/weekly/runs", json={}).status_code == 202
    approving = h.call("POST", "/api/exports/weekly/runs", json={"approve_mass_removal": True}, token="contributor")
    assert approving.status_code == 403 and approving.json()["field"] == "body.approve_mass_removal"
    again = h.call("POST", "/api/exports/weekly/runs", json={}, token="contributor")
    assert again.status_code == 409
    assert again.json()["active_run"].startswith("/api/exports/weekly/runs/")
    assert again.headers["Location"] == again.json()["active_run"]

    running = _wait_running_with_id(h, "weekly")
    assert running["progress"]["parts"] >= 2
    assert (
        h.call("POST", f"/api/exports/weekly/runs/{running['run_id']}/cancel", token="contributor").status_code == 403
    )
    cancelled = h.call("POST", f"/api/exports/weekly/runs/{running['run_id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    h.env.simulator.latency = 0.0
    assert h.env.host.instances[instance_id_for("weekly")].status.value == "Terminated"
    assert not h.env.runtime.store.exists(snapshot_manifest("weekly"))  # the snapshot did not advance
    assert h.call("POST", f"/api/exports/weekly/runs/{running['run_id']}/cancel").status_code == 409

    # The export runs again after a cancel; listing shows both, newest first.
    assert h.call("POST", "/api/exports/weekly/runs", json={}).status_code == 202
    finished = h.wait_for_run("weekly")
    assert finished["status"] == "succeeded"
    assert h.env.runtime.store.exists(snapshot_manifest("weekly"))
    listed = h.call("GET", "/api/exports/weekly/runs", params={"limit": 1}).json()
    assert [r["run_id"] for r in listed["items"]] == [finished["run_id"]]
    older = h.call("GET", listed["next"]).json()
    assert [(r["run_id"], r["status"]) for r in older["items"]] == [(running["run_id"], "cancelled")]
    assert older["next"] is None

    # Deleting the export while it runs terminates that run too.
    h.env.simulator.latency = 0.3
    assert h.call("POST", "/api/exports/weekly/runs", json={"full_resync": True}).status_code == 202
    _wait_running_with_id(h, "weekly")
    etag = h.call("GET", "/api/exports/weekly").headers["ETag"]
    assert h.call("DELETE", "/api/exports/weekly", headers={"If-Match": etag}).status_code == 204
    h.env.simulator.latency = 0.0
    assert h.env.host.instances[instance_id_for("weekly")].status.value == "Terminated"
    assert h.call("GET", "/api/exports/weekly").status_code == 404
