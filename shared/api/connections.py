"""Connections: vendor credentials (write-only, in Key Vault) and who may use them."""

from __future__ import annotations

import logging
import secrets as random
from datetime import UTC, datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Body, Response
from pydantic import SecretStr

from destinations import destination_class
from destinations.base import Credential, Target
from shared.api.context import ApiContext
from shared.api.control import stop_export_run
from shared.api.deps import Admin, Context, IdPath, IfMatch, blocking
from shared.api.documents import (
    connection_ids,
    delete_document,
    export_ids,
    load_connection,
    save_connection,
    save_export,
)
from shared.api.problems import ApiProblem, responses
from shared.api.schemas import (
    ConnectionCreate,
    ConnectionList,
    ConnectionTest,
    ConnectionTestResult,
    ConnectionUpdate,
    ConnectionView,
    CredentialRotation,
)
from shared.config_store import ConfigStore
from shared.errors import (
    CredentialRefused,
    ExportError,
    FieldsMissing,
    NotFound,
    RequestRejected,
    RetryableDestinationError,
    TargetNotFound,
)
from shared.models import Connection

LOG = logging.getLogger("segment_export.api")
router = APIRouter(prefix="/api/connections", tags=["connections"], responses=responses(400, 401, 403, 413, 414, 422))


def secret_name_for(connection_id: str) -> str:
    """A fresh Key Vault name per connection: a deleted secret stays soft-deleted (purge protection),
    so a re-created connection must not reuse its name."""
    return f"conn-{connection_id}-{random.token_hex(4)}"


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("", response_model=ConnectionList, summary="List connections")
async def list_connections(context: Context, principal: Admin) -> ConnectionList:
    items = []
    for connection_id in await blocking(connection_ids, context.store):
        try:
            connection, etag = await blocking(load_connection, context.store, connection_id)
        except ApiProblem:
            LOG.warning("connection %s is listed but unreadable", connection_id)
            continue
        items.append(ConnectionView.of(connection, etag))
    return ConnectionList(items=items)


@router.post(
    "", status_code=201, response_model=ConnectionView, responses=responses(409), summary="Create a connection"
)
async def create_connection(
    body: ConnectionCreate, response: Response, context: Context, principal: Admin
) -> ConnectionView:
    now = _now()
    connection = Connection(
        id=body.id,
        display_name=body.display_name,
        vendor=body.vendor,
        credential_kind=body.credential_kind,
        secret_name=secret_name_for(body.id),
        usable_by=body.usable_by,
        privacy_consent_accepted=body.privacy_consent_accepted,
        base_url=str(body.base_url).rstrip("/") if body.base_url else None,
        credential_updated_at=now if body.credential is not None else None,
        created_by=principal.name,
        created_at=now,
        updated_by=principal.name,
        updated_at=now,
    )
    if body.credential is not None:
        await blocking(context.secrets.set, connection.secret_name, body.credential)
    try:
        etag = await blocking(save_connection, context.store, connection, None)
    except ApiProblem:
        if body.credential is not None:
            await blocking(context.secrets.delete, connection.secret_name)  # its name was fresh: ours alone
        raise
    LOG.info("connection %s created by %s", connection.id, principal.name)
    response.headers["ETag"] = etag
    response.headers["Location"] = f"/api/connections/{connection.id}"
    return ConnectionView.of(connection, etag)


@router.get("/{connection_id}", response_model=ConnectionView, responses=responses(404), summary="Get a connection")
async def get_connection(
    connection_id: IdPath, response: Response, context: Context, principal: Admin
) -> ConnectionView:
    connection, etag = await blocking(load_connection, context.store, connection_id)
    response.headers["ETag"] = etag
    return ConnectionView.of(connection, etag)


@router.put(
    "/{connection_id}",
    response_model=ConnectionView,
    responses=responses(404, 409, 412, 428),
    summary="Update a connection (not its credential)",
)
async def update_connection(
    connection_id: IdPath,
    body: ConnectionUpdate,
    etag: IfMatch,
    response: Response,
    context: Context,
    principal: Admin,
) -> ConnectionView:
    current, _ = await blocking(load_connection, context.store, connection_id)
    updated = current.model_copy(
        update={
            "display_name": body.display_name,
            "usable_by": body.usable_by,
            "privacy_consent_accepted": body.privacy_consent_accepted,
            "base_url": str(body.base_url).rstrip("/") if body.base_url else None,
            "updated_by": principal.name,
            "updated_at": _now(),
        }
    )
    new_etag = await blocking(save_connection, context.store, Connection.model_validate(updated.model_dump()), etag)
    LOG.info("connection %s updated by %s", connection_id, principal.name)
    response.headers["ETag"] = new_etag
    return ConnectionView.of(updated, new_etag)


@router.put(
    "/{connection_id}/credential",
    response_model=ConnectionView,
    responses=responses(404, 409, 412, 428),
    summary="Set or rotate the credential (write-only)",
)
async def rotate_credential(
    connection_id: IdPath,
    body: CredentialRotation,
    etag: IfMatch,
    response: Response,
    context: Context,
    principal: Admin,
) -> ConnectionView:
    current, _ = await blocking(load_connection, context.store, connection_id)
    now = _now()
    updated = current.model_copy(update={"credential_updated_at": now, "updated_by": principal.name, "updated_at": now})
    # The ETag-guarded document write decides which of two concurrent rotations wins; only it writes
    # the secret.
    new_etag = await blocking(save_connection, context.store, updated, etag)
    await blocking(context.secrets.set, current.secret_name, body.credential)
    LOG.info("credential of connection %s rotated by %s", connection_id, principal.name)
    response.headers["ETag"] = new_etag
    return ConnectionView.of(updated, new_etag)


@router.delete(
    "/{connection_id}",
    status_code=204,
    response_class=Response,
    responses=responses(404, 412, 428),
    summary="Delete a connection: its secret, its exports' running runs and their schedule",
)
async def delete_connection(connection_id: IdPath, etag: IfMatch, context: Context, principal: Admin) -> Response:
    connection, _ = await blocking(load_connection, context.store, connection_id)
    await blocking(delete_document, context.store, "connection", connection_id, etag)
    configs = ConfigStore(context.store)
    for export_id in await blocking(export_ids, context.store):
        try:
            export, export_etag = await blocking(configs.get_export, export_id)
        except ExportError:
            continue
        if export.connection_id != connection_id:
            continue
        await stop_export_run(context, export.id, principal.name, f"connection {connection_id} deleted")
        if export.schedule_enabled:
            # The timer must skip it: its connection is gone.
            disabled = export.model_copy(update={"schedule_enabled": False})
            try:
                await blocking(save_export, context.store, disabled, export_etag)
            except ApiProblem:
                LOG.warning("export %s changed while its connection was deleted; not disabled", export_id)
    await blocking(context.secrets.delete, connection.secret_name)
    LOG.info("connection %s deleted by %s", connection_id, principal.name)
    return Response(status_code=204)


async def run_preflight(context: ApiContext, connection: Connection, target_id: str, attributes: list[str]) -> None:
    """The vendor pre-flight a run starts with. Raises as ``Destination.preflight`` and NotFound."""
    secret: SecretStr = await blocking(context.secrets.get, connection.secret_name)
    cls = destination_class(connection.vendor)
    async with context.http() as client:
        destination = cls(
            client=client,
            credential=Credential(secret=secret, kind=connection.credential_kind),
            target=Target(list_id=target_id, mapped_attributes=tuple(attributes)),
            base_url=connection.base_url,
        )
        await destination.preflight()


@router.post(
    "/{connection_id}/test",
    response_model=ConnectionTestResult,
    responses=responses(404),
    summary="Check the credential, the list and the mapped fields with the vendor",
)
async def test_connection(
    connection_id: IdPath,
    body: Annotated[ConnectionTest, Body()],
    context: Context,
    principal: Admin,
) -> ConnectionTestResult:
    connection, _ = await blocking(load_connection, context.store, connection_id)
    vendor = destination_class(connection.vendor).display_name
    try:
        await run_preflight(context, connection, body.target_id, body.attributes)
    except NotFound:
        return ConnectionTestResult(
            ok=False, check="credential_missing", message="no credential is set: set it or run the OAuth sign-in"
        )
    except CredentialRefused:
        return ConnectionTestResult(
            ok=False,
            check="credential_refused",
            message=f"{vendor} refused the credential: rotate the API key or sign in with OAuth again",
        )
    except TargetNotFound:
        return ConnectionTestResult(
            ok=False,
            check="target_not_found",
            message=f"list {body.target_id!r} does not exist in this {vendor} account: fix the target id",
        )
    except FieldsMissing as exc:
        return ConnectionTestResult(
            ok=False,
            check="fields_missing",
            message=f"create these fields in {vendor} or remove them from the mapping: {', '.join(exc.fields)}",
            missing_fields=list(exc.fields),
        )
    except RequestRejected as exc:
        return ConnectionTestResult(ok=False, check="request_rejected", message=str(exc)[:500])
    except (RetryableDestinationError, httpx.HTTPError, httpx.InvalidURL):
        return ConnectionTestResult(
            ok=False, check="vendor_unavailable", message=f"{vendor} could not be reached; try again later"
        )
    return ConnectionTestResult(ok=True, check="passed", message=f"{vendor}: credential, list and fields are fine")
