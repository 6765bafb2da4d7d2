"""host.json is tuned for Durable Functions on Flex Consumption and reads the task hub from the app
setting the code also reads."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from shared.settings import Settings
from tests.infra.templates import ROOT, app_settings


def host() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "host.json").read_text())
    return loaded


def duration(text: str) -> timedelta:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def test_extension_bundle_v4_as_flex_requires() -> None:
    bundle = host()["extensionBundle"]
    assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert bundle["version"] == "[4.*, 5.0.0)"


def test_the_task_hub_is_the_setting_the_code_reads() -> None:
    hub = host()["extensions"]["durableTask"]["hubName"]
    match = re.fullmatch(r"%(\w+)%", hub)
    assert match, "hubName must come from an app setting so host and code agree"
    assert match.group(1) == "EXPORT_TASK_HUB" and "task_hub" in Settings.model_fields


def test_queue_polling_and_concurrency_are_set_for_flex() -> None:
    durable = host()["extensions"]["durableTask"]
    # Microsoft's Durable-on-Flex guidance: poll at 10 s or less (the default 30 s idles runs).
    assert duration(durable["storageProvider"]["maxQueuePollingInterval"]) <= timedelta(seconds=10)
    assert 1 <= durable["maxConcurrentActivityFunctions"] <= 32
    assert 1 <= durable["maxConcurrentOrchestratorFunctions"] <= 32


def test_function_timeout_bounds_a_runaway_activity_within_flex_limits() -> None:
    # Above the activity budget the code keeps (EXPORT_ACTIVITY_BUDGET_SECONDS, with room for the
    # activity to write its checkpoint), within the 60 minutes Flex grants a running execution at
    # scale-in: only a stuck activity is stopped, instead of running unbounded.
    timeout = duration(host()["functionTimeout"])
    budget = timedelta(seconds=Settings.model_fields["activity_budget_seconds"].default)
    assert budget * 2 <= timeout <= timedelta(minutes=60), (budget, timeout)
    deployed = app_settings()["EXPORT_ACTIVITY_BUDGET_SECONDS"]
    assert timedelta(seconds=float(deployed)) * 2 <= timeout, "the deployed budget must stay well under functionTimeout"


def test_logging_keeps_durable_lifecycle_events_and_quiets_storage_chatter() -> None:
    levels = host()["logging"]["logLevel"]
    assert levels["Host.Triggers.DurableTask"] == "Information"  # orchestration state changes, for KQL
    assert levels["DurableTask.AzureStorage"] in ("Warning", "Error")
    sampling = host()["logging"]["applicationInsights"]["samplingSettings"]
    assert "Exception" in sampling["excludedTypes"] and "Request" in sampling["excludedTypes"]
