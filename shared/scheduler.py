"""What the timer trigger does after each data refresh: start one run per enabled export."""

from __future__ import annotations

import logging
from typing import Any

from shared.config_store import ConfigStore
from shared.errors import ExportError
from shared.models import RunRequest, Trigger
from shared.orchestration.names import ORCHESTRATOR, instance_id_for

LOG = logging.getLogger("segment_export.scheduler")
# Suspended counts as active: resuming it would otherwise race a second run of the same export.
ACTIVE = {"Running", "Pending", "ContinuedAsNew", "Suspended"}


async def start_scheduled_runs(client: Any, configs: ConfigStore) -> list[str]:
    """Start ``export-{id}`` for every enabled export whose previous run is not still going.

    ``client`` is a ``DurableOrchestrationClient`` (or the in-process host, which has the same
    ``get_status``/``start_new``). A broken export document is logged and skipped; it never stops the
    others from running.
    """
    started: list[str] = []
    for export_id in configs.export_ids():
        try:
            export, _ = configs.get_export(export_id)
        except ExportError as exc:
            LOG.error("export %s skipped: %s", export_id, exc)
            continue
        if not export.schedule_enabled:
            continue
        instance_id = instance_id_for(export.id)
        status = await client.get_status(instance_id)
        runtime_status = getattr(getattr(status, "runtime_status", None), "value", None)
        if runtime_status in ACTIVE:
            LOG.info("export %s skipped: its previous run is still %s", export.id, runtime_status)
            continue
        request = RunRequest(export_id=export.id, trigger=Trigger.SCHEDULE)
        await client.start_new(ORCHESTRATOR, instance_id, request.model_dump(mode="json"))
        started.append(instance_id)
    return started
