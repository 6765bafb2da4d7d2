"""Shared fixtures: one real Azurite for the whole session (started here, stopped after)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite
from shared.runtime import set_runtime
from shared.settings import load_settings
from shared.storage import BlobStore


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """The connection string of a running Azurite (reuses AZURITE_CONNECTION_STRING when set)."""
    given = os.environ.get("AZURITE_CONNECTION_STRING")
    if given:
        yield given
        return
    with Azurite() as instance:
        yield instance.connection_string


@pytest.fixture
def blob_store(azurite: str) -> Iterator[BlobStore]:
    """A fresh, empty container; deleted after the test."""
    import uuid

    settings = load_settings(storage_connection_string=azurite, container=f"t-{uuid.uuid4().hex[:12]}")
    store = BlobStore.connect(settings, settings.container)
    store.ensure_container()
    yield store
    store.container.delete_container()


@pytest.fixture(autouse=True)
def _no_runtime_leak() -> Iterator[None]:
    yield
    set_runtime(None)
