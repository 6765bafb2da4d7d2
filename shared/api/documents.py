"""Configuration documents for the routes: read, write, delete with ETags, errors as problems."""

from __future__ import annotations

import logging

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

from shared.api.problems import ApiProblem
from shared.config_store import CONNECTIONS, EXPORTS, ConfigStore
from shared.errors import ConcurrencyConflict, ConfigurationError, NotFound
from shared.models import Connection, Export
from shared.storage import BlobStore

LOG = logging.getLogger("segment_export.api")


def _ids(store: BlobStore, prefix: str) -> list[str]:
    return [n.removeprefix(prefix).removesuffix(".json") for n in store.list_names(prefix) if n.endswith(".json")]


def connection_ids(store: BlobStore) -> list[str]:
    return _ids(store, CONNECTIONS)


def export_ids(store: BlobStore) -> list[str]:
    return _ids(store, EXPORTS)


def _broken(kind: str, exc: ConfigurationError) -> ApiProblem:
    return ApiProblem(409, f"the stored {kind} document is invalid: {exc}; replace it", field=exc.field)


def load_connection(store: BlobStore, connection_id: str) -> tuple[Connection, str]:
    try:
        return ConfigStore(store).get_connection(connection_id)
    except NotFound:
        raise ApiProblem(404, f"connection {connection_id!r} does not exist", field="path.connection_id") from None
    except ConfigurationError as exc:
        raise _broken("connection", exc) from None


def load_export(store: BlobStore, export_id: str) -> tuple[Export, str]:
    try:
        return ConfigStore(store).get_export(export_id)
    except NotFound:
        raise ApiProblem(404, f"export {export_id!r} does not exist", field="path.export_id") from None
    except ConfigurationError as exc:
        raise _broken("export", exc) from None


def save_connection(store: BlobStore, connection: Connection, if_match: str | None) -> str:
    try:
        return ConfigStore(store).put_connection(connection, if_match=if_match)
    except ConcurrencyConflict:
        if if_match is None:
            raise ApiProblem(409, f"connection {connection.id!r} already exists", field="body.id") from None
        raise _stale("connection") from None
    except NotFound:
        raise ApiProblem(404, f"connection {connection.id!r} does not exist", field="path.connection_id") from None


def save_export(store: BlobStore, export: Export, if_match: str | None) -> str:
    try:
        return ConfigStore(store).put_export(export, if_match=if_match)
    except ConcurrencyConflict:
        if if_match is None:
            raise ApiProblem(409, f"export {export.id!r} already exists", field="body.id") from None
        raise _stale("export") from None
    except NotFound:
        raise ApiProblem(404, f"export {export.id!r} does not exist", field="path.export_id") from None


def _stale(kind: str) -> ApiProblem:
    return ApiProblem(
        412, f"the {kind} was changed since you read it; read it again and reapply your edit", field="header.If-Match"
    )


def delete_document(store: BlobStore, kind: str, item_id: str, if_match: str) -> None:
    prefix = CONNECTIONS if kind == "connection" else EXPORTS
    try:
        store.container.delete_blob(
            f"{prefix}{item_id}.json", etag=if_match, match_condition=MatchConditions.IfNotModified
        )
    except ResourceModifiedError:
        raise _stale(kind) from None
    except ResourceNotFoundError:
        raise ApiProblem(404, f"{kind} {item_id!r} does not exist", field=f"path.{kind}_id") from None
