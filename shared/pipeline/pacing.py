"""Pacing and retries: how the pipeline keeps every vendor call within the vendor's documented limits.

Adapters declare limits; this module enforces them. ``PacedTransport`` wraps the HTTP transport an
adapter is given, so *every* request an adapter makes — including the several a removal may need —
waits for its rate bucket and a concurrency slot. Each activity gets a ``share`` of the account's
budget (1 / fan-out width), because activities may run on different workers and cannot share a
limiter. ``with_retries`` repeats a call that raised a retryable vendor error (through tenacity, a
well-kept retry library), after the vendor's own retry hint when it gave one, else with exponential
backoff and jitter; every retry is logged (logger ``segment_export.vendor``) with the vendor's hint.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.wait import wait_base

from destinations.base import RateLimit, VendorLimits
from shared import telemetry
from shared.errors import RetryableDestinationError

T = TypeVar("T")

log = logging.getLogger("segment_export.vendor")

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
        # Seconds the first request waits (its place among the activities sharing a limit), counted from
        # that first request, not from when the window was made: activities that take different times to
        # get ready (reading and encoding their rows) would otherwise all find their stagger long past
        # and send their first requests together.
        self.first_delay: float | None = None

    async def wait(self) -> None:
        async with self.lock:
            if self.first_delay is not None:
                self.stamps.append(time.monotonic() - self.seconds + self.first_delay)
                self.first_delay = None
            while True:
                now = time.monotonic()
                while self.stamps and self.stamps[0] <= now - self.seconds:
                    self.stamps.popleft()
                if len(self.stamps) < self.requests:
                    self.stamps.append(now)
                    return
                await asyncio.sleep(self.stamps[0] + self.seconds - now)


def _share_of(limit: RateLimit, share: float, time_scale: float, phase: float = 0.0) -> _Window:
    """This activity's part of one limit. With ``share`` = 1/width, ``width`` activities each sending
    ``floor(requests × share)`` per window send at most ``requests`` per window together. When the
    limit is smaller than the width, each activity gets one request per proportionally longer window,
    its first one ``phase`` (its place among the activities, 0 ≤ phase < 1) into that window: started
    together, the activities would otherwise all send their first request at once, ``width`` requests
    where the vendor allows ``requests``."""
    allowed = limit.requests * share
    if allowed >= 1:
        return _Window(int(allowed), limit.per_seconds * time_scale * SAFETY)
    window = _Window(1, limit.per_seconds / allowed * time_scale * SAFETY)
    if phase > 0:
        window.first_delay = window.seconds * phase  # the first request waits ``phase`` of a window
    return window


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
        phase: float = 0.0,
    ) -> None:
        self.inner = inner
        self.bucket_of = bucket_of
        self.windows: dict[str, list[_Window]] = {
            bucket: [_share_of(limit, share, time_scale, phase) for limit in rate_limits]
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


# Retrying never outlasts this, whatever the attempts left: a vendor that keeps failing costs a bounded
# part of an activity's time budget, and the rows are then reported failed (retried at the next run).
DEFAULT_MAX_RETRY_SECONDS = 300.0


class RetryPolicy:
    """How a retryable vendor error is retried: at most ``attempts`` calls and ``max_seconds`` (real-world
    seconds, scaled like every vendor duration), after the vendor's hint when it gave one, else after an
    exponential backoff with jitter."""

    def __init__(
        self,
        attempts: int,
        *,
        base: float = 1.0,
        cap: float = 60.0,
        time_scale: float = 1.0,
        max_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
    ) -> None:
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.time_scale = time_scale
        self.max_seconds = max_seconds

    def delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            # Vendor hints are real seconds under the vendor's clock (scaled in simulations).
            return hint + 0.05 * self.time_scale
        backoff = min(self.cap, self.base * 2 ** (attempt - 1))
        return random.uniform(0.5, 1.0) * backoff * self.time_scale  # nosec B311 - jitter, not a secret


class _VendorWait(wait_base):
    """tenacity's wait: the vendor's hint (``retry_after`` of the error) or the policy's backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        hint = error.retry_after if isinstance(error, RetryableDestinationError) else None
        return self.policy.delay(retry_state.attempt_number, hint)


def _log_retry(policy: RetryPolicy) -> Callable[[RetryCallState], None]:
    def log_it(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        if not isinstance(error, RetryableDestinationError):
            return
        wait = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
        telemetry.VENDOR_RETRIES.add(1, {"export.vendor": error.vendor, "http.status": str(error.status)})
        log.warning(
            "retrying a %s call after: %s (status %s, vendor hint %s); attempt %d of %d in %.2f s",
            error.vendor,
            error,  # built from vendor names and statuses only: never a credential
            error.status if error.status is not None else "none",
            "none" if error.retry_after is None else f"{error.retry_after:g} s",
            retry_state.attempt_number + 1,
            policy.attempts,
            wait,
            extra={
                "vendor": error.vendor,
                "status": error.status,
                "retry_after": error.retry_after,
                "attempt": retry_state.attempt_number + 1,
            },
        )

    return log_it


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run ``call``; on RetryableDestinationError wait (the vendor's hint, else backoff) and try again,
    within ``policy.attempts`` calls and ``policy.max_seconds``. Every retry is logged with the vendor's hint.

    Raises the last retryable error when attempts or time run out, and any other error at once.
    """
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts) | stop_before_delay(policy.max_seconds * policy.time_scale),
        wait=_VendorWait(policy),
        retry=retry_if_exception_type(RetryableDestinationError),
        before_sleep=_log_retry(policy),
        reraise=True,
    )

    async def attempt() -> T:
        return await call()

    return await retrying(attempt)
