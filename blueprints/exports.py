"""The export orchestration, its activities, the scheduled-refresh timer and the health check as one
Durable blueprint: thin registrations over the domain in ``shared``."""

from __future__ import annotations

import json
import logging

import azure.durable_functions as df
import azure.functions as func

from shared.config_store import ConfigStore
from shared.errors import SettingsError
from shared.orchestration.activities import ACTIVITIES
from shared.orchestration.names import ORCHESTRATOR
from shared.orchestration.orchestrator import export_orchestrator
from shared.runtime import get_runtime
from shared.scheduler import start_scheduled_runs
from shared.settings import settings_problems

LOG = logging.getLogger("segment_export")

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
    try:
        runtime = get_runtime()
    except SettingsError as exc:
        # Each run would fail with the same message; say it once per tick instead of starting them.
        LOG.error("scheduled refresh skipped: %s", exc)
        return
    await start_scheduled_runs(client, ConfigStore(runtime.store))


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous and reveals nothing but whether the app settings are valid, and which are not (names
    only, never values): what an operator needs right after a deployment."""
    problems = settings_problems()
    body = {"status": "ok" if not problems else "misconfigured", "settings": problems}
    return func.HttpResponse(json.dumps(body), status_code=200 if not problems else 503, mimetype="application/json")
