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
# 429 costs far more than 2% of throughput. Besides the 2%, a fixed margin (in vendor time): a request
# counted when its headers leave can still be counted by the vendor tens of milliseconds later than the
# one before it — the 429s of a 1M SendGrid export named waits of 3 to 16 ms.
SAFETY = 1.02
JITTER_SECONDS = 0.03


class _Stamp:
    """When one request counts for a window: when it was released, then — once the transport reports it —
    when its headers were written (``PacedTransport``). Until the request is on its way (``pending``) its
    place is kept whatever the time: a request held up longer than a window still counts when it goes."""

    __slots__ = ("at", "pending")

    def __init__(self, at: float, *, pending: bool = True) -> None:
        self.at = at
        self.pending = pending


class _Window:
    """At most ``requests`` in any window of ``seconds``: the same rule the vendor applies, so a
    stream that follows it can never be the one that trips the vendor's limit."""

    def __init__(self, requests: int, seconds: float) -> None:
        self.requests = requests
        self.seconds = seconds
        self.stamps: list[_Stamp] = []
        self.lock = asyncio.Lock()
        # Seconds the first request waits (its place among the activities sharing a limit), counted from
        # that first request, not from when the window was made: activities that take different times to
        # get ready (reading and encoding their rows) would otherwise all find their stagger long past
        # and send their first requests together.
        self.first_delay: float | None = None

    async def wait(self) -> _Stamp:
        """Wait for room in the window; the returned stamp holds the request's place in it."""
        async with self.lock:
            if self.first_delay is not None:
                self.stamps.append(_Stamp(time.monotonic() - self.seconds + self.first_delay, pending=False))
                self.first_delay = None
            while True:
                now = time.monotonic()
                self.stamps = [s for s in self.stamps if s.pending or s.at > now - self.seconds]
                if len(self.stamps) < self.requests:
                    stamp = _Stamp(now)
                    self.stamps.append(stamp)
                    return stamp
                settled = [s.at for s in self.stamps if not s.pending]
                # Every place taken by a request not yet on its way: look again shortly.
                await asyncio.sleep(min(settled) + self.seconds - now if settled else 0.01)


def _share_of(limit: RateLimit, share: float, time_scale: float, phase: float = 0.0) -> _Window:
    """This activity's part of one limit. With ``share`` = 1/width, ``width`` activities each sending
    ``floor(requests × share)`` per window send at most ``requests`` per window together. When the
    limit is smaller than the width, each activity gets one request per proportionally longer window,
    its first one ``phase`` (its place among the activities, 0 ≤ phase < 1) into that window: started
    together, the activities would otherwise all send their first request at once, ``width`` requests
    where the vendor allows ``requests``."""
    allowed = limit.requests * share
    margin = JITTER_SECONDS * time_scale
    if allowed >= 1:
        return _Window(int(allowed), limit.per_seconds * time_scale * SAFETY + margin)
    window = _Window(1, limit.per_seconds / allowed * time_scale * SAFETY + margin)
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
        windows = self.windows.get(self.bucket_of(request.method, request.url.path), ())
        stamps = [await window.wait() for window in windows]
        if stamps:
            _count_when_sent(request, stamps)
        self.requests += 1
        try:
            if self.slots is None:
                return await self.inner.handle_async_request(request)
            async with self.slots:
                response = await self.inner.handle_async_request(request)
                # Hold the slot until the body is read: the vendor counts the connection until then.
                await response.aread()
                return response
        finally:
            for stamp in stamps:
                stamp.pending = False  # sent (moved to when) or failed before its headers went (kept)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _count_when_sent(request: httpx.Request, stamps: list[_Stamp]) -> None:
    """Move the request's stamps to when its headers are written (httpcore's ``trace`` extension), which
    is when the vendor starts counting it. Between release and that moment lie a new connection's
    handshake and any wait for the event loop; counted from the release, a request that went out late
    and the next one, on time, reach the vendor closer together than the window allows (a 1M SendGrid
    export drew 429s that way). A transport without the extension keeps the release time."""
    chained = request.extensions.get("trace")

    async def trace(name: str, info: dict[str, object]) -> None:
        if name.endswith("send_request_headers.complete"):
            sent = time.monotonic()
            for stamp in stamps:
                stamp.at = max(stamp.at, sent)
                stamp.pending = False
        if chained is not None:
            await chained(name, info)

    request.extensions["trace"] = trace


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
