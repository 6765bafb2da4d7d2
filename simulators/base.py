"""What every vendor simulator shares: a real HTTP server on loopback, a request log, the vendor's
documented limits enforced (rate windows, concurrency), latency, a time scale and fault injection.

A simulator is a *stateful* stand-in for one vendor: it keeps lists, contacts and their subscription
status, runs asynchronous jobs and rejects malformed contacts per row the way the vendor documents,
so tests can compare the vendor's final state with what was expected.

Time scale: every duration the simulator applies (rate windows, latency, job processing) is multiplied
by ``time_scale``; the pipeline's pacer is given the same factor, so a benchmark can run the real
limits 100× faster and still measure how close it gets to the floor they impose.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from destinations.base import RateLimit, VendorLimits

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(slots=True)
class Fault:
    """An injected answer: an HTTP status (with headers/body), ``"reset"`` or ``"hang"``."""

    kind: int | str
    remaining: int
    path_contains: str | None = None
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    hang_seconds: float = 30.0


class SlidingWindow:
    """At most ``limit.requests`` in any window of ``limit.per_seconds × time_scale`` seconds."""

    def __init__(self, limit: RateLimit, time_scale: float) -> None:
        self.limit = limit
        self.window = limit.per_seconds * time_scale
        self.stamps: deque[float] = deque()

    def try_acquire(self, now: float) -> float | None:
        """Record a request and return None, or return the seconds until one would be allowed."""
        horizon = now - self.window
        while self.stamps and self.stamps[0] <= horizon:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit.requests:
            return self.stamps[0] + self.window - now
        self.stamps.append(now)
        return None

    def remaining(self) -> int:
        return max(0, self.limit.requests - len(self.stamps))


class BaseSimulator:
    """Base of the five vendor simulators. Subclasses add routes, auth and state.

    Use as a context manager (``with SendGridSimulator() as sim: sim.url``) or ``start()``/``stop()``.
    """

    vendor: ClassVar[str]
    limits: ClassVar[VendorLimits]
    # Requests that only read (a POST search, a GET) are not "writes" for dry-run assertions.
    read_only_posts: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        latency: float = 0.0,
        time_scale: float = 1.0,
        job_delay: float = 0.0,
        enforce_limits: bool = True,
        rate_limits: Mapping[str, tuple[RateLimit, ...]] | None = None,
        max_concurrency: int | None = None,
        record_bodies: bool = True,
    ) -> None:
        self.latency = latency
        self.time_scale = time_scale
        self.job_delay = job_delay
        self.enforce_limits = enforce_limits
        self.record_bodies = record_bodies
        limits = rate_limits if rate_limits is not None else self.limits.rate_limits
        self.max_concurrency = max_concurrency if max_concurrency is not None else self.limits.max_concurrency
        self._windows = {b: [SlidingWindow(lim, time_scale) for lim in lims] for b, lims in limits.items()}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rate_limited_count = 0
        self.lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.api_key = ""  # subclasses set a valid key of the vendor's shape

    # ---- vendor hooks -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def authenticate(self, request: web.Request) -> bool:
        raise NotImplementedError

    def unauthorized_response(self) -> web.StreamResponse:
        return web.json_response({"message": "unauthorized"}, status=401)

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        return web.json_response(
            {"message": "too many requests"}, status=429, headers={"Retry-After": f"{retry_after:.3f}"}
        )

    def too_many_connections_response(self) -> web.StreamResponse:
        return web.json_response({"message": "too many concurrent connections"}, status=429)

    def bucket_for(self, method: str, path: str) -> str:
        """The rate bucket of a request; vendors with several buckets override this."""
        return next(iter(self._windows), "default")

    # ---- test-facing state API (each simulator implements these) ------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        """Create a list / audience (Omnisend: declare a tag) and return the id an export targets."""
        raise NotImplementedError

    def create_field(self, name: str) -> None:
        """Create a custom / merge field or attribute with this vendor-native name."""
        raise NotImplementedError

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        """Make ``email`` an existing contact of the target that unsubscribed (must never be re-subscribed)."""
        raise NotImplementedError

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        """Make ``email`` an existing, subscribed member of the target."""
        raise NotImplementedError

    def members(self, target_id: str) -> dict[str, dict[str, Any]]:
        """Current members of the target: normalised email → vendor-native fields as stored."""
        raise NotImplementedError

    def subscription_status(self, email: str, target_id: str) -> str | None:
        """``"subscribed"``, ``"unsubscribed"`` (or the vendor's word for it) or None if unknown."""
        raise NotImplementedError

    def upserted_emails(self) -> list[str]:
        """Emails carried by the add/update requests in the log (one entry per time sent)."""
        raise NotImplementedError

    def removed_emails(self) -> list[str]:
        """Emails the removal requests in the log acted on (one entry per time sent)."""
        raise NotImplementedError

    # ---- generic machinery ---------------------------------------------------------------------

    def inject(
        self,
        kind: int | str,
        *,
        times: int = 1,
        path_contains: str | None = None,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        hang_seconds: float = 30.0,
    ) -> None:
        """Answer the next ``times`` matching requests with ``kind`` instead of serving them."""
        with self.lock:
            self.faults.append(Fault(kind, times, path_contains, method, headers or {}, body, hang_seconds))

    def writes(self) -> list[RecordedRequest]:
        """Requests that could change vendor state (for dry-run assertions)."""
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method in ("POST", "PUT", "PATCH", "DELETE")
                and not any(r.path.endswith(p) for p in self.read_only_posts)
            ]

    def successful_requests_per_bucket(self) -> dict[str, int]:
        """Answered (< 400) requests per rate bucket: what the benchmark's floor is computed from."""
        counts: dict[str, int] = {}
        with self.lock:
            for r in self.requests:
                if r.status < 400:
                    bucket = self.bucket_for(r.method, r.path)
                    counts[bucket] = counts.get(bucket, 0) + 1
        return counts

    def member_count(self, target_id: str) -> int:
        return len(self.members(target_id))

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()
            self.peak_in_flight = 0
            self.rate_limited_count = 0

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale

    def _take_fault(self, request: web.Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining <= 0:
                    continue
                if fault.path_contains and fault.path_contains not in request.path:
                    continue
                if fault.method and fault.method != request.method:
                    continue
                fault.remaining -= 1
                return fault
        return None

    def _check_rate(self, bucket: str) -> tuple[float, SlidingWindow] | None:
        now = time.monotonic()
        with self.lock:
            windows = self._windows.get(bucket, [])
            waits = [(w.try_acquire(now), w) for w in windows]
            blocked = [(wait, w) for wait, w in waits if wait is not None]
            if not blocked:
                return None
            # A refused request must not consume capacity in the windows that admitted it.
            for wait, w in waits:
                if wait is None and w.stamps:
                    w.stamps.pop()
            return max(blocked, key=lambda item: item[0])

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body if self.record_bodies else b"",
            at=time.monotonic(),
        )
        with self.lock:
            self.requests.append(record)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            over_concurrency = (
                self.enforce_limits and self.max_concurrency is not None and self.in_flight > self.max_concurrency
            )
        try:
            response = await self._serve(request, handler, over_concurrency)
        finally:
            with self.lock:
                self.in_flight -= 1
        record.status = response.status
        return response

    async def _serve(self, request: web.Request, handler: Handler, over_concurrency: bool) -> web.StreamResponse:
        fault = self._take_fault(request)
        if fault is not None:
            if fault.kind == "reset":
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            if fault.kind == "hang":
                await asyncio.sleep(fault.hang_seconds)
            else:
                assert isinstance(fault.kind, int)
                payload = fault.body if fault.body is not None else {"message": f"injected {fault.kind}"}
                return web.json_response(payload, status=fault.kind, headers=fault.headers)
        if not self.authenticate(request):
            return self.unauthorized_response()
        if over_concurrency:
            with self.lock:
                self.rate_limited_count += 1
            return self.too_many_connections_response()
        if self.enforce_limits:
            refused = self._check_rate(self.bucket_for(request.method, request.path))
            if refused is not None:
                with self.lock:
                    self.rate_limited_count += 1
                return self.rate_limited_response(*refused)
        if self.latency:
            await asyncio.sleep(self.scaled(self.latency))
        return await handler(request)

    def start(self) -> str:
        """Start serving on 127.0.0.1 (a free port) in a background thread; returns the base URL."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
                self.add_routes(app)
                runner = web.AppRunner(app, access_log=None)
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
                loop.run_until_complete(site.start())
                server = site._server
                assert server is not None
                port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
                self.url = f"http://127.0.0.1:{port}"
                self._runner = runner
            except BaseException as exc:  # surfaced to the caller of start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"{self.vendor}-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self.url

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> BaseSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the server loop after ``delay`` (already scaled) seconds: async job processing."""
        assert self._loop is not None
        self._loop.call_later(max(0.0, delay), fn)
