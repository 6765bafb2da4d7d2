"""kill -9 mid-apply: the host process dies with SIGKILL while batches are being sent; a new host
process resumes the same run from the history kept in Azurite. The vendor list ends exactly as
expected, nothing is counted twice, and what was sent twice is at most one batch per killed activity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.local_env import LocalEnv, local_env
from devtools.sample_data import seed_sample
from shared.models import RunReport, RunStatus

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PROFILES = 6000


@pytest.fixture
def env(azurite: str) -> Iterator[LocalEnv]:
    settings = {"rows_per_partition": 1000, "first_poll_seconds": 0.2, "max_poll_seconds": 0.5}
    # Campaign Monitor takes 1,000 subscribers a request, so ~5,600 profiles make six batches in six apply
    # units; the vendor is slow enough (latency per request) that a kill lands while units are in flight.
    with local_env("campaign_monitor", azurite, simulator_options={"latency": 0.3}, settings=settings) as e:
        yield e


def _host(env: LocalEnv, azurite: str, *args: str) -> subprocess.Popen[str]:
    settings = env.runtime.settings
    child_env = {
        **os.environ,
        "EXPORT_STORAGE_CONNECTION_STRING": azurite,
        "EXPORT_CONTAINER": settings.container,
        "EXPORT_SEGMENTS_CONTAINER": settings.segments_container,
        "EXPORT_KEY_VAULT_URL": settings.key_vault_url or "",
        "EXPORT_ROWS_PER_PARTITION": str(settings.rows_per_partition),
        "EXPORT_FIRST_POLL_SECONDS": "0.2",
        "EXPORT_MAX_POLL_SECONDS": "0.5",
        "EXPORT_ACTIVITY_RETRY_INTERVAL_SECONDS": "0.2",
        "HOST_PROCESS_SECRET": env.simulator.api_key,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "devtools.host_process", *args],
        cwd=REPO,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _events(process: subprocess.Popen[str]) -> Iterator[dict[str, Any]]:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("{"):
            yield json.loads(line)


def test_a_host_killed_mid_apply_resumes_the_same_run_and_resends_at_most_a_batch_per_activity(
    env: LocalEnv, azurite: str
) -> None:
    env.add_connection()
    sample = seed_sample(env.runtime.segments, PROFILES)
    env.add_export()

    first = _host(env, azurite, "--start", "weekly")
    in_flight: set[str] = set()
    applied = 0
    try:
        for event in _events(first):
            if event["event"] == "scheduled" and event["name"] == "apply_batches":
                in_flight.add(event["input"])
            elif event["event"] == "completed" and event["name"] == "apply_batches":
                in_flight.discard(event["input"])
                applied += 1
                if applied == 2:  # mid-apply: some units sent, others in flight or waiting
                    first.send_signal(signal.SIGKILL)
                    break
        first.wait(timeout=30)
    finally:
        first.kill()
        first.stdout.close()  # type: ignore[union-attr]
    assert first.returncode == -signal.SIGKILL
    killed_activities = len(in_flight)

    second = _host(env, azurite, "--resume", "export-weekly")
    try:
        done = [e for e in _events(second) if e["event"] == "done"]
        second.wait(timeout=120)
    finally:
        second.kill()
        second.stdout.close()  # type: ignore[union-attr]
    assert done and done[0]["status"] == "Completed", done
    run_id = done[0]["custom_status"]["run_id"]

    reports = env.runtime.store.list_names("runs/weekly/")
    assert [n for n in reports if n.endswith("/report.json")] == [f"runs/weekly/{run_id}/report.json"]
    report = RunReport.model_validate(env.runtime.store.read_json(f"runs/weekly/{run_id}/report.json")[0])
    assert report.status is RunStatus.SUCCEEDED, report.errors
    assert report.outcomes.total() == report.profiles_read == sample.rows
    assert report.outcomes.upserted == len(sample.expected)  # nothing counted twice
    assert set(env.simulator.members(env.target_id)) == set(sample.expected)

    sent = Counter(env.simulator.upserted_emails())
    twice = sum(count - 1 for count in sent.values() if count > 1)
    # Each apply unit holds one batch of at most 1,000 subscribers (Campaign Monitor's import limit): the
    # bound is one batch per activity killed in flight.
    batch = 1_000
    print(f"\nkill -9 drill: {killed_activities} apply activities killed in flight, {twice} rows sent twice")
    assert twice <= max(1, killed_activities) * batch
