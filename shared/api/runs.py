"""Runs: start one on demand, watch it, list them, fetch the rejected rows, cancel."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from shared.api.deps import Admin, Context, IdPath, Reader, RunRef, blocking
from shared.api.exports import visible_export
from shared.api.problems import ApiProblem, responses
from shared.api.runs_store import (
    ACTIVE,
    RUN_ID,
    read_report,
    run_ids,
    run_link,
    runtime_status,
    starting_view,
    view_of,
    write_cancelled_report,
)
from shared.api.schemas import RunList, RunOptions, RunView
from shared.errors import NotFound
from shared.models import RunRequest, Trigger
from shared.orchestration.names import ORCHESTRATOR, instance_id_for

LOG = logging.getLogger("segment_export.api")
router = APIRouter(
    prefix="/api/exports/{export_id}/runs", tags=["runs"], responses=responses(400, 401, 403, 404, 413, 414, 422)
)
CHUNK = 64 * 1024


def named_run(status: object) -> str | None:
    """The run the instance is on: named in the custom status once planned, in the output when done."""
    documents = (getattr(status, "custom_status", None), getattr(status, "output", None))
    named = [d.get("run_id") for d in documents if isinstance(d, dict)]
    return next((r for r in named if isinstance(r, str) and RUN_ID.match(r)), None)


async def _current(context: Context, export_id: str) -> RunView:
    client = context.client()
    runtime, status = await runtime_status(client, export_id)
    output = getattr(status, "output", None)
    run_id = named_run(status)
    if run_id is not None:
        view = await blocking(view_of, context.store, export_id, run_id, runtime, True)
        if view is not None:
            return view
    if runtime in ACTIVE:
        return starting_view(export_id, runtime, output)
    ids = await blocking(run_ids, context.store, export_id)
    if ids:
        view = await blocking(view_of, context.store, export_id, ids[0], runtime, True)
        if view is not None:
            return view
    if runtime is None:
        raise ApiProblem(404, f"export {export_id!r} has not run yet", field="path.run_id")
    return starting_view(export_id, runtime, output)


@router.post(
    "",
    status_code=202,
    response_model=RunView,
    responses=responses(409, 503),
    summary="Start a run now (202 with Location; 409 while one is going)",
)
async def start_run(
    export_id: IdPath,
    response: Response,
    context: Context,
    principal: Reader,
    options: Annotated[RunOptions | None, Body()] = None,
) -> RunView:
    await blocking(visible_export, context, principal, export_id)
    options = options or RunOptions()
    if options.approve_mass_removal and not principal.is_admin:
        # Letting a run remove more than the guard allows is an admin's decision.
        raise ApiProblem(403, "only an admin may approve a mass removal", field="body.approve_mass_removal")
    client = context.client()
    runtime, _ = await runtime_status(client, export_id)
    if runtime in ACTIVE:
        raise _running(export_id, await _current(context, export_id))
    request = RunRequest(
        export_id=export_id,
        trigger=Trigger.ON_DEMAND,
        dry_run=options.dry_run,
        full_resync=options.full_resync,
        approve_mass_removal=options.approve_mass_removal,
    )
    try:
        await client.start_new(ORCHESTRATOR, instance_id_for(export_id), request.model_dump(mode="json"))
    except Exception:
        # Two callers raced past the check: the durable client refuses a second start of a running instance.
        runtime, _ = await runtime_status(client, export_id)
        if runtime in ACTIVE:
            raise _running(export_id, await _current(context, export_id)) from None
        raise
    LOG.info("export %s: run requested by %s (dry_run=%s)", export_id, principal.name, options.dry_run)
    response.headers["Location"] = run_link(export_id, None)
    return RunView(
        export_id=export_id,
        run_id=None,
        status="pending",
        step="starting",
        trigger=Trigger.ON_DEMAND.value,
        dry_run=options.dry_run,
        full_resync=options.full_resync,
        links={"self": run_link(export_id, None)},  # type: ignore[arg-type]
    )


def _running(export_id: str, current: RunView) -> ApiProblem:
    link = current.links.self
    return ApiProblem(
        409,
        f"export {export_id!r} is already running ({link}); wait for it or cancel it",
        field="path.export_id",
        headers={"Location": link},
        active_run=link,
    )


@router.get("", response_model=RunList, summary="List the export's runs, newest first")
async def list_runs(
    export_id: IdPath,
    context: Context,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[str | None, Query(pattern=RUN_ID.pattern, max_length=40, description="a run id")] = None,
) -> RunList:
    await blocking(visible_export, context, principal, export_id)
    runtime, status = await runtime_status(context.client(), export_id)
    ids = await blocking(run_ids, context.store, export_id)
    newest = named_run(status) or (ids[0] if ids else None)
    if before is not None:
        ids = ids[ids.index(before) + 1 :] if before in ids else [run_id for run_id in ids if run_id < before]
    page = ids[:limit]
    items = []
    for run_id in page:
        view = await blocking(view_of, context.store, export_id, run_id, runtime, run_id == newest)
        if view is not None:
            items.append(view)
    following = f"/api/exports/{export_id}/runs?limit={limit}&before={page[-1]}" if len(ids) > limit else None
    return RunList(items=items, next=following)


@router.get("/{run_id}", response_model=RunView, summary="Get a run ('current': the latest or running one)")
async def get_run(export_id: IdPath, run_id: RunRef, context: Context, principal: Reader) -> RunView:
    await blocking(visible_export, context, principal, export_id)
    if run_id == "current":
        return await _current(context, export_id)
    runtime, status = await runtime_status(context.client(), export_id)
    ids = await blocking(run_ids, context.store, export_id)
    current = named_run(status) or (ids[0] if ids else None)
    view = await blocking(view_of, context.store, export_id, run_id, runtime, run_id == current)
    if view is None:
        raise ApiProblem(404, f"run {run_id!r} of export {export_id!r} does not exist", field="path.run_id")
    return view


@router.get(
    "/{run_id}/rejected-rows",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV, one row a line"}},
    summary="Download the run's rejected rows (CSV: segment, blob, line, email, outcome, reason)",
)
async def rejected_rows(export_id: IdPath, run_id: RunRef, context: Context, principal: Reader) -> StreamingResponse:
    await blocking(visible_export, context, principal, export_id)
    if run_id == "current":
        run_id = (await _current(context, export_id)).run_id or ""
    report = await blocking(read_report, context.store, export_id, run_id) if RUN_ID.match(run_id) else None
    if report is None or not report.rejected_rows_blob:
        raise ApiProblem(404, f"run {run_id or 'current'!r} has no rejected rows", field="path.run_id")
    try:
        stream = await blocking(context.store.open_stream, report.rejected_rows_blob)
    except NotFound:
        raise ApiProblem(404, f"run {run_id!r} has no rejected rows", field="path.run_id") from None

    def chunks() -> Iterator[bytes]:
        with stream:
            while piece := stream.read(CHUNK):
                yield piece

    return StreamingResponse(
        iterate_in_threadpool(chunks()),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{export_id}-{run_id}-rejected.csv"'},
    )


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    response_model=RunView,
    responses=responses(409),
    summary="Cancel the running run (terminates the orchestration; nothing is committed)",
)
async def cancel_run(export_id: IdPath, run_id: RunRef, context: Context, principal: Admin) -> RunView:
    await blocking(visible_export, context, principal, export_id)
    client = context.client()
    runtime, _ = await runtime_status(client, export_id)
    current = await _current(context, export_id)
    if runtime not in ACTIVE or (run_id != "current" and current.run_id != run_id):
        raise ApiProblem(409, f"run {run_id!r} of export {export_id!r} is not running", field="path.run_id")
    await client.terminate(instance_id_for(export_id), f"cancelled by {principal.name}")
    LOG.info("export %s: run %s cancelled by %s", export_id, current.run_id, principal.name)
    if current.run_id is not None:
        await blocking(write_cancelled_report, context.store, export_id, current.run_id, principal.name)
        view = await blocking(view_of, context.store, export_id, current.run_id, "Terminated", True)
        if view is not None:
            return view
    return starting_view(export_id, "Terminated", None)
