"""Exports: what to send where. Validated for the vendor on save; saving never runs."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from destinations import destination_class
from shared.api.auth import Principal
from shared.api.context import ApiContext
from shared.api.control import stop_export_run
from shared.api.deps import Admin, Context, IdPath, IfMatch, Reader, blocking
from shared.api.documents import delete_document, export_ids, load_connection, load_export, save_export
from shared.api.problems import ApiProblem, responses
from shared.api.schemas import ExportBody, ExportList, ExportView
from shared.config_store import ConfigStore
from shared.errors import ExportError
from shared.models import Connection, Export

LOG = logging.getLogger("segment_export.api")
router = APIRouter(prefix="/api/exports", tags=["exports"], responses=responses(400, 401, 403, 413, 414, 422))


def shared_with(principal: Principal, connection: Connection | None) -> bool:
    """Admins see every export; contributors those whose connection is shared with them."""
    if principal.is_admin:
        return True
    return connection is not None and connection.usable_by == "admins_and_contributors"


def visible_export(context: ApiContext, principal: Principal, export_id: str) -> tuple[Export, str]:
    """The export, or 404 — also when a contributor may not see it (its existence is not revealed)."""
    export, etag = load_export(context.store, export_id)
    if principal.is_admin:
        return export, etag
    try:
        connection, _ = ConfigStore(context.store).get_connection(export.connection_id)
    except ExportError:
        connection = None
    if not shared_with(principal, connection):
        raise ApiProblem(404, f"export {export_id!r} does not exist", field="path.export_id")
    return export, etag


def validate_for_vendor(context: ApiContext, export: Export) -> None:
    """The checks a person should hear about when saving, not at 2 a.m. in the run report."""
    try:
        connection, _ = load_connection(context.store, export.connection_id)
    except ApiProblem as problem:
        if problem.status == 404:
            raise ApiProblem(
                422, f"connection {export.connection_id!r} does not exist", field="body.connection_id"
            ) from None
        raise
    cls = destination_class(connection.vendor)
    if export.removal_policy not in cls.removal_policies:
        allowed = ", ".join(sorted(p.value for p in cls.removal_policies))
        raise ApiProblem(
            422,
            f"removal policy {export.removal_policy.value!r} is not offered by {cls.display_name}; "
            f"choose one of {allowed}",
            field="body.removal_policy",
        )
    for index, segment in enumerate(export.segments):
        if not context.segments.list_names(segment.rstrip("/") + "/"):
            raise ApiProblem(
                422,
                f"segment folder {segment!r} is empty or does not exist in the segments container",
                field=f"body.segments.{index}",
            )


@router.get("", response_model=ExportList, summary="List exports (contributors: those shared with them)")
async def list_exports(context: Context, principal: Reader) -> ExportList:
    configs = ConfigStore(context.store)
    items = []
    connections: dict[str, Connection | None] = {}
    for export_id in await blocking(export_ids, context.store):
        try:
            export, etag = await blocking(configs.get_export, export_id)
        except ExportError:
            LOG.warning("export %s is listed but unreadable", export_id)
            continue
        if not principal.is_admin:
            if export.connection_id not in connections:
                try:
                    connections[export.connection_id] = (await blocking(configs.get_connection, export.connection_id))[
                        0
                    ]
                except ExportError:
                    connections[export.connection_id] = None
            if not shared_with(principal, connections[export.connection_id]):
                continue
        items.append(ExportView(**export.model_dump(), etag=etag))
    return ExportList(items=items)


@router.post("", status_code=201, response_model=ExportView, responses=responses(409), summary="Create an export")
async def create_export(body: ExportBody, response: Response, context: Context, principal: Admin) -> ExportView:
    export = Export.model_validate(body.model_dump())
    await blocking(validate_for_vendor, context, export)
    etag = await blocking(save_export, context.store, export, None)
    LOG.info("export %s created by %s", export.id, principal.name)
    response.headers["ETag"] = etag
    response.headers["Location"] = f"/api/exports/{export.id}"
    return ExportView(**export.model_dump(), etag=etag)


@router.get("/{export_id}", response_model=ExportView, responses=responses(404, 409), summary="Get an export")
async def get_export(export_id: IdPath, response: Response, context: Context, principal: Reader) -> ExportView:
    export, etag = await blocking(visible_export, context, principal, export_id)
    response.headers["ETag"] = etag
    return ExportView(**export.model_dump(), etag=etag)


@router.put(
    "/{export_id}", response_model=ExportView, responses=responses(404, 409, 412, 428), summary="Replace an export"
)
async def update_export(
    export_id: IdPath, body: ExportBody, etag: IfMatch, response: Response, context: Context, principal: Admin
) -> ExportView:
    if body.id != export_id:
        raise ApiProblem(
            422, "the body's id must equal the id in the path (an export cannot be renamed)", field="body.id"
        )
    await blocking(load_export, context.store, export_id)
    export = Export.model_validate(body.model_dump())
    await blocking(validate_for_vendor, context, export)
    new_etag = await blocking(save_export, context.store, export, etag)
    LOG.info("export %s updated by %s", export_id, principal.name)
    response.headers["ETag"] = new_etag
    return ExportView(**export.model_dump(), etag=new_etag)


@router.delete(
    "/{export_id}",
    status_code=204,
    response_class=Response,
    responses=responses(404, 412, 428),
    summary="Delete an export and stop its running run",
)
async def delete_export(export_id: IdPath, etag: IfMatch, context: Context, principal: Admin) -> Response:
    await blocking(delete_document, context.store, "export", export_id, etag)
    await stop_export_run(context, export_id, principal.name, f"export {export_id} deleted")
    LOG.info("export %s deleted by %s", export_id, principal.name)
    return Response(status_code=204)
