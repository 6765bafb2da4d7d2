"""Pacing and retries: how the pipeline keeps every vendor call within the vendor's documented limits.

Adapters declare limits; this module enforces them. ``PacedTransport`` wraps the HTTP transport an
adapter is given, so *every* request an adapter makes — including the several a removal may need —
waits for its rate bucket and a concurrency slot. Each activity gets a ``share`` of the account's
budget (1 / fan-out width), because activities may run on different workers and cannot share a
limiter. ``with_retries`` repeats a call that raised a retryable vendor error, after the vendor's own
retry hint when it gave one, else with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from destinations.base import RateLimit, VendorLimits
from shared.errors import RetryableDestinationError

T = TypeVar("T")

# Requests are spaced a little wider than the limit allows: arrival times jitter on the wire, and a
# 429 costs far more than 2% of throughput.
SAFETY = 1.02


class _Window:
    """At most ``requests`` in any window of ``seconds``: the same rule the vendor applies, so a
    stream that follows it can never be the one that trips the vendor's limit."""

    def __init__(self, requests: int, seconds: float) -> None:
        self.requests = requests
        self.seconds = seconds
        self.stamps: deque[float] = deque()
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                while self.stamps and self.stamps[0] <= now - self.seconds:
                    self.stamps.popleft()
                if len(self.stamps) < self.requests:
                    self.stamps.append(now)
                    return
                await asyncio.sleep(self.stamps[0] + self.seconds - now)


def _share_of(limit: RateLimit, share: float, time_scale: float) -> _Window:
    """This activity's part of one limit. With ``share`` = 1/width, ``width`` activities each sending
    ``floor(requests × share)`` per window send at most ``requests`` per window together. When the
    limit is smaller than the width, each activity gets one request per proportionally longer window."""
    allowed = limit.requests * share
    if allowed >= 1:
        return _Window(int(allowed), limit.per_seconds * time_scale * SAFETY)
    return _Window(1, limit.per_seconds / allowed * time_scale * SAFETY)


class PacedTransport(httpx.AsyncBaseTransport):
    """Paces an adapter's requests by bucket (``bucket_of(method, path)``) and concurrency."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        limits: VendorLimits,
        bucket_of: Callable[[str, str], str],
        *,
        share: float = 1.0,
        time_scale: float = 1.0,
    ) -> None:
        self.inner = inner
        self.bucket_of = bucket_of
        self.windows: dict[str, list[_Window]] = {
            bucket: [_share_of(limit, share, time_scale) for limit in rate_limits]
            for bucket, rate_limits in limits.rate_limits.items()
        }
        slots = None if limits.max_concurrency is None else max(1, int(limits.max_concurrency * share))
        self.slots = asyncio.Semaphore(slots) if slots else None
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for window in self.windows.get(self.bucket_of(request.method, request.url.path), ()):
            await window.wait()
        self.requests += 1
        if self.slots is None:
            return await self.inner.handle_async_request(request)
        async with self.slots:
            response = await self.inner.handle_async_request(request)
            # Hold the slot until the body is read: the vendor counts the connection until then.
            await response.aread()
            return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class RetryPolicy:
    def __init__(self, attempts: int, *, base: float = 1.0, cap: float = 60.0, time_scale: float = 1.0) -> None:
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.time_scale = time_scale

    def delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            # Vendor hints are real seconds under the vendor's clock (scaled in simulations).
            return hint + 0.05 * self.time_scale
        backoff = min(self.cap, self.base * 2 ** (attempt - 1))
        return random.uniform(0.5, 1.0) * backoff * self.time_scale


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run ``call``; on RetryableDestinationError wait and try again, up to ``policy.attempts`` times.

    Raises the last retryable error when attempts run out, and any other error at once.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except RetryableDestinationError as exc:
            if attempt >= policy.attempts:
                raise
            await asyncio.sleep(policy.delay(attempt, exc.retry_after))
