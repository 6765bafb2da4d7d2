"""Worker processes for the CPU-bound activities (the local FUNCTIONS_WORKER_PROCESS_COUNT): the same run
with one process and with two gives the same report and the same vendor list, the stage and diff
activities really run in other processes, and a failure there reads exactly as it does in-process.

Which process ran an invocation is read from the worker runtime's own log record ("Function name: …"),
forwarded to this process's loggers with the pool process's pid in ``record.process``."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest

from devtools.durable_host import ActivityError, WorkerDispatch
from devtools.local_env import local_env
from devtools.sample_data import seed_sample
from devtools.worker_pool import PROCESSES_VARIABLE, WorkerPoolDispatch, processes_from_env
from shared.orchestration.names import DIFF_PARTITION, FINISH_PARTITION, STAGE_PART

pytestmark = pytest.mark.e2e

SETTINGS = {"rows_per_partition": 1000, "first_poll_seconds": 0.05, "max_poll_seconds": 0.2}
PROFILES = 4000
CPU_BOUND = (STAGE_PART, DIFF_PARTITION, FINISH_PARTITION)
# What the simulator assigns itself (differs between any two runs): left out of the comparison.
VENDOR_ASSIGNED = {"id", "created_at", "updated_at"}


def invocation_pids(records: list[logging.LogRecord], activity: str) -> set[int | None]:
    """The pids of the processes whose worker logged an invocation of ``activity``."""
    marker = f"Function name: {activity}, "
    return {r.process for r in records if r.name == "azure.functions" and r.getMessage().startswith(marker)}


async def export_once(azurite: str, processes: int, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    caplog.clear()
    with local_env(
        "sendgrid", azurite, simulator_options={"job_delay": 0.05}, settings=SETTINGS, worker_processes=processes
    ) as env:
        env.add_connection()
        sample = seed_sample(env.runtime.segments, PROFILES)
        env.add_export()
        instance, report = await env.run("weekly")
        assert report is not None, instance.error
        members = {
            email: {key: value for key, value in contact.items() if key not in VENDOR_ASSIGNED}
            for email, contact in env.simulator.members(env.target_id).items()
        }
        statuses = env.read_back(sample.expected)
    return {
        "report": report.model_dump(include={"status", "profiles_read", "outcomes", "removed", "errors"}),
        "members": members,
        "statuses": statuses,
        "pids": {name: invocation_pids(caplog.records, name) for name in CPU_BOUND},
    }


async def test_two_worker_processes_export_the_same_list_as_one(azurite: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the pool processes forward records at the host's level
    single = await export_once(azurite, 1, caplog)
    pooled = await export_once(azurite, 2, caplog)

    assert single["report"]["status"] == "succeeded", single["report"]["errors"]
    assert single["report"]["outcomes"]["upserted"] > 0
    assert pooled["report"] == single["report"]
    assert len(single["members"]) == single["report"]["outcomes"]["upserted"]
    assert pooled["members"] == single["members"]
    assert pooled["statuses"] == single["statuses"]
    here = os.getpid()
    # One process: every invocation ran here. Two: stage, diff and finish ran in the pool's processes.
    assert all(pids == {here} for pids in single["pids"].values()), single["pids"]
    for name, pids in pooled["pids"].items():
        assert pids, f"no invocation of {name} was logged"
        assert here not in pids, f"{name} ran in the host process"
    assert len(set().union(*pooled["pids"].values())) == 2, "the activities did not use both pool processes"


async def test_a_failure_in_a_pool_process_reads_as_in_process(azurite: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # A run root with no plan: stage_part raises while reading it, in whichever process runs it.
    payload = json.dumps({"root": "runs/no-such-export/run-0", "index": 0})
    with local_env("sendgrid", azurite, settings=SETTINGS, worker_processes=2) as env:
        assert isinstance(env.host.dispatch, WorkerPoolDispatch)
        with pytest.raises(ActivityError) as pooled:
            await env.host.dispatch.activity(STAGE_PART, payload)
        ran_in = invocation_pids(caplog.records, STAGE_PART)
        with pytest.raises(ActivityError) as in_process:
            await WorkerDispatch().activity(STAGE_PART, payload)

    assert ran_in and os.getpid() not in ran_in, "the failing invocation did not run in a pool process"
    assert "Result: Failure\nException: " in pooled.value.reason
    assert pooled.value.reason == in_process.value.reason
    assert pooled.value.details == in_process.value.details


@pytest.mark.parametrize(("value", "expected"), [(None, 1), ("", 1), ("3", 3), ("auto", None), (" AUTO ", None)])
def test_the_process_count_comes_from_local_worker_processes(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int | None
) -> None:
    if value is None:
        monkeypatch.delenv(PROCESSES_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(PROCESSES_VARIABLE, value)
    assert processes_from_env(default=1) == expected


def test_a_process_count_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROCESSES_VARIABLE, "0")
    with pytest.raises(ValueError, match=PROCESSES_VARIABLE):
        processes_from_env(default=1)
