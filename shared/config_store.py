"""Connections and exports as JSON documents in blob storage, guarded by ETags."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.errors import ConfigurationError
from shared.models import Connection, Export
from shared.storage import BlobStore

Model = TypeVar("Model", bound=BaseModel)

CONNECTIONS = "config/connections/"
EXPORTS = "config/exports/"


class ConfigStore:
    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def _load(self, prefix: str, item_id: str, model: type[Model]) -> tuple[Model, str]:
        document, etag = self.store.read_json(f"{prefix}{item_id}.json")
        try:
            return model.model_validate(document), etag
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(
                f"{prefix}{item_id}.json is invalid at '{field}': {first['msg']}", field=field
            ) from None

    def get_connection(self, connection_id: str) -> tuple[Connection, str]:
        """Raises NotFound, ConfigurationError."""
        return self._load(CONNECTIONS, connection_id, Connection)

    def get_export(self, export_id: str) -> tuple[Export, str]:
        """Raises NotFound, ConfigurationError."""
        return self._load(EXPORTS, export_id, Export)

    def put_connection(self, connection: Connection, *, if_match: str | None = None) -> str:
        """Create (no ``if_match``) or replace. Raises ConcurrencyConflict."""
        return self.store.write_json(
            f"{CONNECTIONS}{connection.id}.json",
            connection.model_dump(mode="json"),
            if_match=if_match,
            create_only=if_match is None,
        )

    def put_export(self, export: Export, *, if_match: str | None = None) -> str:
        """Create (no ``if_match``) or replace. Raises ConcurrencyConflict."""
        return self.store.write_json(
            f"{EXPORTS}{export.id}.json",
            export.model_dump(mode="json"),
            if_match=if_match,
            create_only=if_match is None,
        )

    def export_ids(self) -> list[str]:
        return [name.removeprefix(EXPORTS).removesuffix(".json") for name in self.store.list_names(EXPORTS)]
