"""What the routes work with, and how the durable client reaches them.

In Azure the HTTP trigger receives a ``DurableOrchestrationClient`` per invocation and sets
``DURABLE_CLIENT`` around the ASGI call (a context variable: concurrent invocations never see each
other's client). Locally ``ApiContext.durable_client`` is the in-process host behind the same interface.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.api.auth import TokenVerifier
from shared.api.problems import ApiProblem
from shared.api.settings import ApiSettings
from shared.secrets import SecretStore
from shared.storage import BlobStore

DURABLE_CLIENT: ContextVar[Any] = ContextVar("durable_client", default=None)


@dataclass
class ApiContext:
    settings: ApiSettings
    store: BlobStore
    segments: BlobStore
    secrets: SecretStore
    verifier: TokenVerifier
    durable_client: Any = None
    # Vendor calls (connection test, OAuth token exchange); None = httpx's default transport.
    transport: httpx.AsyncBaseTransport | None = None
    settings_problems: int = 0
    # Vendor OAuth endpoints replaced (local simulators); empty in Azure.
    oauth_endpoints: dict[str, dict[str, str]] = field(default_factory=dict)

    def client(self) -> Any:
        client = DURABLE_CLIENT.get() or self.durable_client
        if client is None:
            raise ApiProblem(503, "the durable client is not available")
        return client

    def http(self, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=httpx.Timeout(timeout, connect=10.0))
