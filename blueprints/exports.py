"""The export orchestration, its activities and the scheduled-refresh timer as one Durable blueprint."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from shared.activities import ACTIVITIES
from shared.config_store import ConfigStore
from shared.orchestrator import ORCHESTRATOR, export_orchestrator
from shared.runtime import get_runtime
from shared.scheduler import start_scheduled_runs

bp = df.Blueprint()

# Registered by explicit calls so the plain functions stay importable (and testable) unchanged;
# the names come from the same constants the orchestrator calls them by.
bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)(export_orchestrator)
# The Durable extension finds an activity by its *function* name, so each gets the name the
# orchestrator calls it by (not the Python function's name).
for _name, _activity in ACTIVITIES.items():
    bp.function_name(name=_name)(bp.activity_trigger(input_name="payload", activity=_name)(_activity))


@bp.timer_trigger(schedule="%EXPORT_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def scheduled_refresh(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await start_scheduled_runs(client, ConfigStore(get_runtime().store))
