"""Builds a vendor adapter for a run: credential from Key Vault, paced client, target from the export."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from destinations import destination_class
from destinations.base import Credential, Destination, Target
from shared.pipeline.pacing import PacedTransport, RetryPolicy, with_retries
from shared.pipeline.plan import Plan
from shared.runtime import Runtime


def target_of(plan: Plan) -> Target:
    export = plan.export
    return Target(
        list_id=export.target_id,
        mapped_attributes=tuple(export.attributes()),
        new_contact_status=export.new_contact_status,
        removal_policy=export.removal_policy,
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per worker, as httpx would build it: loading the CA bundle costs ~20 ms, and every
    activity opens its own client."""
    return httpx.create_ssl_context()


def retry_policy(runtime: Runtime) -> RetryPolicy:
    settings = runtime.settings
    return RetryPolicy(
        settings.max_attempts, time_scale=settings.vendor_time_scale, max_seconds=settings.vendor_retry_max_seconds
    )


def connection_label(plan: Plan) -> str:
    """How errors name the connection: its display name, and its id when that differs."""
    connection = plan.connection
    if connection.display_name and connection.display_name != connection.id:
        return f"{connection.display_name} ({connection.id})"
    return connection.id


@asynccontextmanager
async def open_destination(
    runtime: Runtime, plan: Plan, *, share: float = 1.0, phase: float = 0.0
) -> AsyncIterator[Destination]:
    """An adapter whose every request is paced to ``share`` of the account's rate budget (``phase``: this
    activity's place among those sharing it, see ``pacing._share_of``).

    Raises NotFound when the connection's Key Vault secret is missing.
    """
    connection = plan.connection
    cls = destination_class(connection.vendor)
    # Key Vault and storage are read in a thread: activities share the worker's event loop, and a
    # blocking call on it holds back the requests other activities' pacers have released.
    secret = await asyncio.to_thread(runtime.secrets.get, connection.secret_name)
    base_url = connection.base_url or runtime.settings.vendor_base_urls.get(connection.vendor)
    inner = (
        runtime.transport_factory()
        if runtime.transport_factory is not None
        else httpx.AsyncHTTPTransport(
            verify=tls_context(), limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
    )
    transport = PacedTransport(
        inner,
        cls.limits,
        lambda _m, _p: "default",
        share=share,
        time_scale=runtime.settings.vendor_time_scale,
        phase=phase,
    )
    timeout = httpx.Timeout(runtime.settings.request_timeout_seconds, connect=10.0)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        destination = cls(
            client=client,
            credential=Credential(secret=secret, kind=connection.credential_kind),
            target=target_of(plan),
            base_url=base_url,
            connection=connection_label(plan),
        )
        transport.bucket_of = destination.rate_bucket
        destination.http.retry = functools.partial(with_retries, policy=retry_policy(runtime))
        yield destination


async def make_ready(runtime: Runtime, plan: Plan, destination: Destination) -> None:
    """What ``prepare()`` learned in pre-flight, handed to this activity's adapter: one vendor read per
    run, not per activity. ``prepare()`` still runs after the restore — it sends nothing when the state
    covers the mapping (SendGrid, Brevo), and Campaign Monitor re-checks its custom fields once pre-flight's
    check is more than a minute old (a field deleted since would silently drop values)."""
    state = await asyncio.to_thread(runtime.store.read_json_or_none, plan.paths.prepared)
    if state is not None:
        destination.restore_prepared(state)
    await with_retries(destination.prepare, retry_policy(runtime))
