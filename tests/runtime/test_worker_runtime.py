"""The app as the Functions host drives it: the real Python worker runtime (``azure-functions-runtime``)
indexes and loads every function and invokes the orchestrator, activities, the timer and the health
check with the protobuf messages the host sends (``devtools.functions_worker`` plays the host's proxy).

If the runtime would refuse one function in Azure — as it refused 8 of 10 when activities declared
``payload: dict[str, Any]`` — the host loads none of them; these tests fail first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.durable_host import DirectDispatch, LocalDurableHost, serve_client_api
from devtools.functions_worker import FunctionsWorker, InvocationFailed
from shared.config_store import ConfigStore
from shared.models import Connection, Export
from shared.orchestration.activities import ACTIVITIES
from shared.orchestration.names import ORCHESTRATOR, PLAN_RUN, REPORT_UNPLANNED
from shared.runtime import Runtime, set_runtime
from shared.secrets import KeyVaultSecretStore
from shared.settings import load_settings
from shared.storage import BlobStore
from simulators.keyvault import KeyVaultStandIn, TestCredential

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker() -> FunctionsWorker:
    return FunctionsWorker.shared()


@pytest.fixture
def runtime(azurite: str) -> Iterator[Runtime]:
    suffix = uuid.uuid4().hex[:10]
    settings = load_settings(
        storage_connection_string=azurite,
        container=f"rt-{suffix}",
        segments_container=f"rs-{suffix}",
        key_vault_url="https://segment-export.vault.azure.net",
    )
    store = BlobStore.connect(settings, settings.container)
    segments = BlobStore.connect(settings, settings.segments_container)
    store.ensure_container()
    segments.ensure_container()
    vault = KeyVaultStandIn(settings.key_vault_url or "")
    secrets = KeyVaultSecretStore(vault.vault_url, TestCredential(vault.token), transport=vault)
    installed = Runtime(settings=settings, store=store, segments=segments, secrets=secrets)
    set_runtime(installed)
    yield installed
    set_runtime(None)
    store.container.delete_container()
    segments.container.delete_container()


def test_the_runtime_is_the_one_the_app_pins() -> None:
    """The worker runtime driven here is the package requirements.txt pins for Azure (not a copy)."""
    import azure_functions_runtime
    from azure_functions_runtime.version import VERSION

    pinned = next(
        line.split("==")[1].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.startswith("azure-functions-runtime==")
    )
    assert pinned == VERSION
    assert azure_functions_runtime.__name__ == "azure_functions_runtime"


def test_every_function_indexes_and_loads(worker: FunctionsWorker) -> None:
    assert worker.init_response.result.status == worker.protos.StatusResult.Success
    expected = {ORCHESTRATOR, *ACTIVITIES, "scheduled_refresh", "health", "admin_api"}
    assert set(worker.functions) == expected
    triggers = {name: info.trigger["type"] for name, info in worker.functions.items()}
    assert triggers[ORCHESTRATOR] == "orchestrationTrigger"
    assert all(triggers[name] == "activityTrigger" for name in ACTIVITIES)
    assert triggers["scheduled_refresh"] == "timerTrigger"
    assert worker.functions["scheduled_refresh"].trigger["schedule"] == "%EXPORT_SCHEDULE%"
    assert triggers["health"] == "httpTrigger"
    assert triggers["admin_api"] == "httpTrigger"


async def test_the_orchestrator_answers_a_history_with_its_next_action(worker: FunctionsWorker) -> None:
    request = {"export_id": "weekly", "trigger": "schedule"}
    history = [
        {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2026-11-25T02:30:00Z"},
        {
            "EventType": 0,
            "EventId": -1,
            "IsPlayed": False,
            "Timestamp": "2026-11-25T02:30:00Z",
            "Name": ORCHESTRATOR,
            "Input": json.dumps(request),
            "Version": "",
            "OrchestrationInstance": {"InstanceId": "export-weekly"},
        },
    ]
    context = {
        "history": history,
        "instanceId": "export-weekly",
        "isReplaying": False,
        "parentInstanceId": None,
        "input": json.dumps(request),
        "upperSchemaVersion": 1,
    }

    state = json.loads(await worker.invoke_orchestrator(ORCHESTRATOR, json.dumps(context)))

    assert state["isDone"] is False
    first = LocalDurableHost._flatten(state["actions"])[0]
    # The plan is idempotent: scheduled with the retry options the extension will apply.
    assert first["functionName"] == PLAN_RUN
    assert first["actionType"] == 1 and first["retryOptions"]["maxNumberOfAttempts"] >= 1
    assert json.loads(first["input"])["request"] == request


async def test_an_activity_takes_its_json_input_and_returns_json(worker: FunctionsWorker, runtime: Runtime) -> None:
    payload = {
        "request": {"export_id": "missing", "trigger": "schedule"},
        "run_id": "r1",
        "instance_id": "export-missing",
        "started_at": "2026-11-25T02:30:00+00:00",
    }
    result = json.loads(await worker.invoke_activity(PLAN_RUN, json.dumps(payload)))
    # A configuration problem is a verdict, returned as data, not a fault to retry.
    assert "missing" in result["refused"] and result["fatal"] is False

    report_input = {"root": "runs/missing/r1", "request": payload["request"], "errors": [result["refused"]]}
    written = json.loads(await worker.invoke_activity(REPORT_UNPLANNED, json.dumps(report_input)))
    assert written == {"status": "failed", "report": "runs/missing/r1/report.json"}
    report, _ = runtime.store.read_json("runs/missing/r1/report.json")
    assert report["status"] == "failed" and report["profiles_read"] == 0


async def test_an_activity_fault_reaches_the_host_as_the_worker_reports_it(worker: FunctionsWorker) -> None:
    with pytest.raises(InvocationFailed) as failed:
        await worker.invoke_activity(PLAN_RUN, json.dumps({"request": {"export_id": "x"}}))
    # The host builds "Result: Failure / Exception: <type>: <message> / Stack: …" from this.
    assert failed.value.message.startswith("KeyError: ")
    assert failed.value.host_text().startswith("Result: Failure\nException: KeyError: ")


async def test_the_timer_starts_one_run_per_enabled_export_through_the_durable_client(
    worker: FunctionsWorker, runtime: Runtime
) -> None:
    configs = ConfigStore(runtime.store)
    configs.put_connection(
        Connection(
            id="main", display_name="s", vendor="sendgrid", secret_name="conn-main", privacy_consent_accepted=True
        )
    )
    for export_id, enabled in (("weekly", True), ("paused", False)):
        configs.put_export(
            Export(
                id=export_id,
                name=export_id,
                connection_id="main",
                target_id="list-1",
                field_mapping={"email": "email"},
                segments=["segments/a"],
                schedule_enabled=enabled,
            )
        )

    def waits_a_day(context: Any) -> Any:  # stands in for a long run, so the second tick sees it active
        from datetime import timedelta

        yield context.create_timer(context.current_utc_datetime + timedelta(days=1))

    host = LocalDurableHost(DirectDispatch({ORCHESTRATOR: waits_a_day}, {}))
    runner, binding = await serve_client_api(host)
    try:
        # The timer function gets the SDK's DurableOrchestrationClient, which calls the extension's HTTP API.
        await worker.invoke_timer("scheduled_refresh", binding)
        assert set(host.instances) == {"export-weekly"}
        started = host.instances["export-weekly"].input
        assert started["export_id"] == "weekly" and started["trigger"] == "schedule"
        first_history = len(host.instances["export-weekly"].history)

        await worker.invoke_timer("scheduled_refresh", binding)  # still running: skipped, not restarted
        assert set(host.instances) == {"export-weekly"}
        assert len(host.instances["export-weekly"].history) >= first_history
        await host.terminate("export-weekly", "test over")
    finally:
        await runner.cleanup()


async def test_health_is_anonymous_and_names_bad_settings_without_values(
    worker: FunctionsWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = worker.protos
    request = p.TypedData(http=p.RpcHttp(method="GET", url="http://127.0.0.1/api/health", headers={}))
    monkeypatch.setenv("EXPORT_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    monkeypatch.setenv("EXPORT_MAX_PARTITIONS", "not-a-number")
    monkeypatch.setenv("EXPORT_SCHEDULE", "every night")
    answer = await worker.invoke("health", {"req": request})
    body = json.loads(answer.http.body.bytes or answer.http.body.string)
    assert answer.http.status_code == "503"
    assert body["status"] == "misconfigured"
    names = " ".join(body["settings"])
    assert "EXPORT_MAX_PARTITIONS" in names and "EXPORT_SCHEDULE" in names
    assert "not-a-number" not in json.dumps(body) and "every night" not in json.dumps(body)

    monkeypatch.delenv("EXPORT_MAX_PARTITIONS")
    monkeypatch.delenv("EXPORT_SCHEDULE")
    answer = await worker.invoke("health", {"req": request})
    assert answer.http.status_code == "200"


def test_a_parametrised_annotation_on_an_activity_fails_indexing() -> None:
    """The guard works: give one activity back its ``dict[str, Any]`` annotation and the runtime
    refuses the app, as it did in Azure (run in a child process: the runtime's registry is global)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import shared.orchestration.activities as activities
        activities.stage_part_activity.__annotations__["payload"] = "dict[str, Any]"
        from devtools.functions_worker import FunctionsWorker, WorkerInitError
        try:
            FunctionsWorker().start()
        except WorkerInitError as exc:
            print("REFUSED:", exc)
        else:
            print("LOADED")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert "REFUSED:" in done.stdout, done.stdout + done.stderr
    assert "invalid non-type annotation dict[str, typing.Any]" in done.stdout
