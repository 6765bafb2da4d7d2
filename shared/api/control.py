"""Stopping an export's orchestration: cancel a run, or stop all use of a deleted export or connection."""

from __future__ import annotations

import logging

from shared.api.context import ApiContext
from shared.api.deps import blocking
from shared.api.runs_store import ACTIVE, run_ids, runtime_status, write_cancelled_report
from shared.orchestration.names import instance_id_for

LOG = logging.getLogger("segment_export.api")


async def stop_export_run(context: ApiContext, export_id: str, by: str, reason: str) -> str | None:
    """Terminate the export's active orchestration, if any, and close its run as cancelled.

    Returns the cancelled run's id (None when nothing ran or the run had no plan yet).
    """
    client = context.client()
    runtime, _ = await runtime_status(client, export_id)
    if runtime not in ACTIVE:
        return None
    await client.terminate(instance_id_for(export_id), reason)
    LOG.info("export %s: orchestration terminated (%s)", export_id, reason)
    ids = await blocking(run_ids, context.store, export_id)
    if not ids:
        return None
    closed: bool = await blocking(write_cancelled_report, context.store, export_id, ids[0], by)
    return ids[0] if closed else None
