"""What every vendor simulator shares: a real HTTP server on loopback, a request log, the vendor's
documented limits enforced (rate windows, concurrency), latency, a time scale, and the per-test
switches of ``sim.scenario`` (job outcomes and fault profiles).

A simulator is a *stateful* stand-in for one vendor: it keeps lists, contacts and their subscription
status, runs asynchronous jobs and rejects malformed contacts per row the way the vendor documents,
so tests can compare the vendor's final state with what was expected. Simulators are written apart
from the adapters they check: nothing here or in a vendor module imports ``destinations`` (a test
walks the imports); every constant is written again from the vendor's documentation with its source.

Time scale: every duration the simulator applies (rate windows, latency, job processing) is multiplied
by ``time_scale``; the pipeline's pacer is given the same factor, so a benchmark can run the real
limits 100× faster and still measure how close it gets to the floor they impose.

Per-test switches — one small API on every simulator, ``sim.scenario``:

``sim.scenario.next_job(state, *, reject=None, apply_first=None, times=1)``
    How the next ``times`` asynchronous jobs (SendGrid import, Brevo process, Omnisend batch) end.
    ``state`` is the vendor's own word (``sim.job_states`` lists them). A terminal state is where the
    job ends; a non-terminal one (``pending``, ``queued``, ``in_process``, ``inProgress``) is where it
    stays for ever (a stalled job); ``"vanish"`` makes polls of the job answer 404. ``reject`` maps
    emails to the reason the vendor gives for refusing those rows (the others are stored: partial
    acceptance); ``apply_first=n`` stores only the first n rows before a ``failed``/``cancelled``/
    ``stopped`` end. Synchronous vendors (Mailchimp, Campaign Monitor) have no jobs.

``sim.scenario.fault(profile, *, times=3, path_contains=None, method=None, seconds=None, status=None,
for_seconds=None)``
    Answer the next ``times`` matching requests (and only while ``for_seconds`` have not passed) with a
    fault instead of the normal answer. Profiles (``FAULT_PROFILES``):
    ``rate_limit_storm`` (429 with the vendor's documented hint headers/body; ``seconds`` is the hint),
    ``server_error_burst`` (``status``, default 503), ``slow_answers`` (served after ``seconds``, default
    35 s, i.e. past a client timeout — and still applied: a client that gave up does not know),
    ``connection_reset`` (the connection is cut before an answer; ``apply=True`` cuts it *after* the vendor
    applied the request: the outcome is unknown to the client),
    ``malformed_json`` (the normal answer, its JSON body cut in half), ``job_fails`` / ``job_stalls`` /
    ``job_vanishes`` (the next ``times`` jobs), ``error_file_unavailable`` (downloads of a job's error
    report answer 403, as an expired signed URL does). Every fault is bounded (``times`` ≤ 1,000) and
    stops by itself.

``sim.scenario.clear()`` forgets every pending switch. ``sim.fault(...)`` and ``sim.next_job(...)`` are the
same calls as methods of the simulator (so a ``RemoteSimulator`` in another process takes them too), and
``sim.inject(...)`` (the older single-fault call) is kept and feeds the same machinery.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import gc
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from aiohttp import web

T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAULT_PROFILES: tuple[str, ...] = (
    "rate_limit_storm",
    "server_error_burst",
    "slow_answers",
    "connection_reset",
    "malformed_json",
    "job_fails",
    "job_stalls",
    "job_vanishes",
    "error_file_unavailable",
)
JOB_PROFILES = ("job_fails", "job_stalls", "job_vanishes", "error_file_unavailable")
MAX_FAULT_TIMES = 1_000  # a storm is bounded whatever a test asks for
VANISH = "vanish"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` in any window of ``per_seconds`` (real-world seconds)."""

    requests: int
    per_seconds: float


@dataclass(frozen=True, slots=True)
class SimulatorLimits:
    """What a simulator enforces: rate windows per bucket and requests in flight (``None``: no limit)."""

    rate_limits: Mapping[str, tuple[RateLimit, ...]]
    max_concurrency: int | None = None


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
    """An injected answer. ``kind``: an HTTP status, or one of ``"reset"``, ``"hang"``, ``"slow"``,
    ``"malformed"``, ``"rate_limit"``."""

    kind: int | str
    remaining: int
    path_contains: str | None = None
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    hang_seconds: float = 30.0
    until: float | None = None  # time.monotonic() after which the fault is spent
    apply: bool = False  # reset: after the vendor applied the request


@dataclass(frozen=True, slots=True)
class JobPlan:
    """How one asynchronous job ends (see the module docstring)."""

    state: str
    reject: Mapping[str, str] = field(default_factory=dict)
    apply_first: int | None = None

    @property
    def vanishes(self) -> bool:
        return self.state == VANISH


class Scenario:
    """The per-test switches of one simulator (see the module docstring)."""

    def __init__(self, simulator: BaseSimulator) -> None:
        self._sim = simulator
        self._jobs: deque[JobPlan] = deque()
        self.error_files_unavailable = 0  # downloads left to refuse

    def next_job(
        self,
        state: str,
        *,
        reject: Mapping[str, str] | None = None,
        apply_first: int | None = None,
        times: int = 1,
    ) -> None:
        sim = self._sim
        if not sim.job_states:
            raise ValueError(f"{sim.vendor} answers synchronously: it has no jobs")
        if state != VANISH and state not in sim.job_states:
            raise ValueError(f"{sim.vendor} job states are {', '.join(sim.job_states)} (or 'vanish'), not {state!r}")
        plan = JobPlan(state, {k.lower(): v for k, v in (reject or {}).items()}, apply_first)
        with sim.lock:
            self._jobs.extend([plan] * min(times, MAX_FAULT_TIMES))

    def take_job_plan(self) -> JobPlan | None:
        """The plan of the job being created now (None: the vendor's normal processing)."""
        with self._sim.lock:
            return self._jobs.popleft() if self._jobs else None

    def fault(
        self,
        profile: str,
        *,
        times: int = 3,
        path_contains: str | None = None,
        method: str | None = None,
        seconds: float | None = None,
        status: int | None = None,
        for_seconds: float | None = None,
        apply: bool = False,
    ) -> None:
        sim = self._sim
        times = max(1, min(times, MAX_FAULT_TIMES))
        if profile in JOB_PROFILES:
            if profile == "error_file_unavailable":
                if sim.error_file_path is None:
                    raise ValueError(f"{sim.vendor} has no error file to refuse")
                self._add(403, times, sim.error_file_path, "GET", for_seconds, body=_EXPIRED_URL, raw=True)
                return
            if not sim.job_states:
                raise ValueError(f"{sim.vendor} answers synchronously: {profile} does not apply")
            state = {"job_fails": sim.job_failed_state, "job_stalls": sim.job_states[0], "job_vanishes": VANISH}
            self.next_job(state[profile], times=times)
            return
        kinds: dict[str, int | str] = {
            "rate_limit_storm": "rate_limit",
            "server_error_burst": status or 503,
            "slow_answers": "slow",
            "connection_reset": "reset",
            "malformed_json": "malformed",
        }
        if profile not in kinds:
            raise ValueError(f"unknown fault profile {profile!r}; profiles: {', '.join(FAULT_PROFILES)}")
        default_seconds = {"rate_limit_storm": 1.0, "slow_answers": 35.0}.get(profile, 0.0)
        self._add(
            kinds[profile],
            times,
            path_contains,
            method,
            for_seconds,
            seconds=default_seconds if seconds is None else seconds,
            apply=apply,
        )

    def _add(
        self,
        kind: int | str,
        times: int,
        path_contains: str | None,
        method: str | None,
        for_seconds: float | None,
        *,
        body: Any = None,
        raw: bool = False,
        seconds: float = 0.0,
        apply: bool = False,
    ) -> None:
        until = time.monotonic() + for_seconds if for_seconds is not None else None
        fault = Fault(kind, times, path_contains, method, {}, body, seconds, until, apply)
        if raw:
            fault.headers["Content-Type"] = "application/xml"
        with self._sim.lock:
            self._sim.faults.append(fault)

    def clear(self) -> None:
        with self._sim.lock:
            self._jobs.clear()
            self._sim.faults.clear()

    def pending_faults(self) -> int:
        """Faults still to be answered (a test can assert a storm was spent)."""
        now = time.monotonic()
        with self._sim.lock:
            return sum(f.remaining for f in self._sim.faults if f.until is None or f.until > now)


# What S3 answers for an expired pre-signed URL (where SendGrid and Brevo host their report files).
_EXPIRED_URL = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message></Error>"
)


class SlidingWindow:
    """At most ``limit.requests`` in any window of ``limit.per_seconds × time_scale`` seconds, counted by
    when each request *arrived* (its headers), as a rate-limiting gateway counts them: a request is checked
    once its body is read, so a large upload is checked after smaller ones that arrived later — its stamp
    still goes where it arrived (the stamps are kept in order)."""

    def __init__(self, limit: RateLimit, time_scale: float) -> None:
        self.limit = limit
        self.window = limit.per_seconds * time_scale
        self.stamps: list[float] = []  # arrival times, ascending

    def try_acquire(self, now: float) -> float | None:
        """Record a request that arrived at ``now`` and return None, or return the seconds until one would
        be allowed."""
        horizon = now - self.window
        stale = bisect.bisect_right(self.stamps, horizon - self.window)  # older than any window still checked
        if stale:
            del self.stamps[:stale]
        first = bisect.bisect_right(self.stamps, horizon)
        inside = bisect.bisect_right(self.stamps, now) - first
        if inside >= self.limit.requests:
            return max(0.0, self.stamps[first] + self.window - now)
        bisect.insort(self.stamps, now)
        return None

    def release(self, now: float) -> None:
        """Take back the request recorded at ``now`` (it was refused by another window)."""
        at = bisect.bisect_left(self.stamps, now)
        if at < len(self.stamps) and self.stamps[at] == now:
            del self.stamps[at]


def whole_seconds(seconds: float) -> int:
    """A wait as vendors send it: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(seconds))


class HandOverLock:
    """A re-entrant lock that knows whether a thread is waiting for it, so a long job holding it can hand
    it over (``BaseSimulator.let_others_in``). Used as ``with lock:`` like ``threading.RLock``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._count = threading.Lock()
        self.waiting = 0

    def acquire(self) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        with self._count:
            self.waiting += 1
        try:
            return self._lock.acquire()
        finally:
            with self._count:
                self.waiting -= 1

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class BaseSimulator:
    """Base of the five vendor simulators. Subclasses add routes, auth and state.

    Use as a context manager (``with SendGridSimulator() as sim: sim.url``) or ``start()``/``stop()``.
    """

    vendor: ClassVar[str]
    limits: ClassVar[SimulatorLimits]
    # Requests that only read (a POST search, a GET) are not "writes" for dry-run assertions.
    read_only_posts: ClassVar[tuple[str, ...]] = ()
    # The vendor's job states, the first one where a new job starts; empty for synchronous vendors.
    job_states: ClassVar[tuple[str, ...]] = ()
    job_failed_state: ClassVar[str] = ""
    # Path prefix of the report files a job links to (None: the vendor links none).
    error_file_path: ClassVar[str | None] = None

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
        self.faults_answered = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.rate_limited_count = 0
        self.lock = HandOverLock()
        self.scenario = Scenario(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._jobs: ThreadPoolExecutor | None = None  # the account's job worker (``process_later``)
        self._checks: ThreadPoolExecutor | None = None  # parses and checks large bodies (``off_loop``)
        self.freeze_after_jobs = False  # see ``_job_step``; set by a simulator in a process of its own
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.api_key = ""  # subclasses set a valid key of the vendor's shape

    @property
    def base_url(self) -> str:
        return self.url

    # ---- vendor hooks -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def authenticate(self, request: web.Request) -> bool:
        raise NotImplementedError

    def unauthorized_response(self) -> web.StreamResponse:
        return web.json_response({"message": "unauthorized"}, status=401)

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        return web.json_response(
            {"message": "too many requests"}, status=429, headers={"Retry-After": str(whole_seconds(retry_after))}
        )

    def too_many_connections_response(self) -> web.StreamResponse:
        return web.json_response({"message": "too many concurrent connections"}, status=429)

    def server_error_response(self, status: int) -> web.StreamResponse:
        """A 5xx in the vendor's error shape (vendors override)."""
        return web.json_response({"message": "internal server error"}, status=status)

    def bucket_for(self, method: str, path: str) -> str:
        """The rate bucket of a request; vendors with several buckets override this."""
        return next(iter(self._windows), "default")

    def is_public(self, request: web.Request) -> bool:
        """Routes that take no API credential (OAuth endpoints, signed download links)."""
        return False

    def credential_problem(self, request: web.Request) -> web.StreamResponse | None:
        """A refusal of a credential that authenticated but cannot be used now (an expired OAuth token)."""
        return None

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

    def fault_profiles(self) -> tuple[str, ...]:
        """The profiles of ``FAULT_PROFILES`` that apply to this vendor."""
        return tuple(
            p
            for p in FAULT_PROFILES
            if (p not in JOB_PROFILES or self.job_states)
            and (p != "error_file_unavailable" or self.error_file_path is not None)
        )

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
        """Answer the next ``times`` matching requests with ``kind`` instead of serving them
        (an HTTP status with ``headers``/``body`` as given, ``"reset"`` or ``"hang"``)."""
        with self.lock:
            times = max(1, min(times, MAX_FAULT_TIMES))
            self.faults.append(Fault(kind, times, path_contains, method, headers or {}, body, hang_seconds))

    def fault(self, profile: str, **options: Any) -> None:
        """``sim.scenario.fault`` as a method of its own, so a simulator in another process
        (``RemoteSimulator``) can be switched with the same call."""
        self.scenario.fault(profile, **options)

    def next_job(self, state: str, **options: Any) -> None:
        """``sim.scenario.next_job`` as a method of its own (see ``fault``)."""
        self.scenario.next_job(state, **options)

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
        now = time.monotonic()
        with self.lock:
            for fault in self.faults:
                if fault.remaining <= 0 or (fault.until is not None and now >= fault.until):
                    continue
                if fault.path_contains and fault.path_contains not in request.path:
                    continue
                if fault.method and fault.method != request.method:
                    continue
                fault.remaining -= 1
                self.faults_answered += 1
                return fault
            # Spent faults are dropped so a long run does not scan them for ever.
            self.faults = [f for f in self.faults if f.remaining > 0 and (f.until is None or now < f.until)]
        return None

    def _check_rate(self, bucket: str, arrived: float) -> tuple[float, SlidingWindow] | None:
        with self.lock:
            windows = self._windows.get(bucket, [])
            waits = [(w.try_acquire(arrived), w) for w in windows]
            blocked = [(wait, w) for wait, w in waits if wait is not None]
            if not blocked:
                return None
            # A refused request must not consume capacity in the windows that admitted it.
            for wait, w in waits:
                if wait is None:
                    w.release(arrived)
            return max(blocked, key=lambda item: item[0])

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = time.monotonic()  # the headers are in: when a gateway counts the request
        body = await request.read()
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body if self.record_bodies else b"",
            at=arrived,
        )
        with self.lock:
            self.requests.append(record)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            over_concurrency = (
                self.enforce_limits and self.max_concurrency is not None and self.in_flight > self.max_concurrency
            )
        try:
            response = await self._serve(request, handler, over_concurrency, arrived)
        finally:
            with self.lock:
                self.in_flight -= 1
        record.status = response.status
        return response

    async def _serve(
        self, request: web.Request, handler: Handler, over_concurrency: bool, arrived: float
    ) -> web.StreamResponse:
        fault = self._take_fault(request)
        if fault is not None:
            answered = await self._answer_fault(fault, request, handler)
            if answered is not None:
                return answered
        if not self.is_public(request):
            if not self.authenticate(request):
                return self.unauthorized_response()
            if (unusable := self.credential_problem(request)) is not None:
                return unusable
        if over_concurrency:
            with self.lock:
                self.rate_limited_count += 1
            return self.too_many_connections_response()
        if self.enforce_limits:
            refused = self._check_rate(self.bucket_for(request.method, request.path), arrived)
            if refused is not None:
                with self.lock:
                    self.rate_limited_count += 1
                return self.rate_limited_response(*refused)
        if self.latency:
            await asyncio.sleep(self.scaled(self.latency))
        return await handler(request)

    async def _answer_fault(self, fault: Fault, request: web.Request, handler: Handler) -> web.StreamResponse | None:
        """The fault's answer, or None to serve the request normally after it (``hang``/``slow``)."""
        if fault.kind == "reset":
            if fault.apply and self.authenticate(request):
                await handler(request)  # the vendor applied it; the client never hears so
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if fault.kind in ("hang", "slow"):
            await asyncio.sleep(fault.hang_seconds)
            return None
        if fault.kind == "malformed":
            response = await handler(request)
            return _malformed(response)
        if fault.kind == "rate_limit":
            limits = next(iter(self._windows.values()), [SlidingWindow(RateLimit(1, 1.0), self.time_scale)])
            with self.lock:
                self.rate_limited_count += 1
            return self.rate_limited_response(fault.hang_seconds, limits[0])
        assert isinstance(fault.kind, int)
        if fault.body is None and not fault.headers:
            if fault.kind >= 500:
                return self.server_error_response(fault.kind)
            if fault.kind == 429:
                return self.rate_limited_response(1.0, SlidingWindow(RateLimit(1, 1.0), self.time_scale))
        if isinstance(fault.body, str):
            return web.Response(text=fault.body, status=fault.kind, headers=fault.headers)
        payload = fault.body if fault.body is not None else {"message": f"injected {fault.kind}"}
        return web.json_response(payload, status=fault.kind, headers=fault.headers)

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
        for pool in (self._jobs, self._checks):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._jobs = self._checks = None
        self._loop = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the server loop after ``delay`` (already scaled) seconds: async job processing."""
        assert self._loop is not None
        self._loop.call_later(max(0.0, delay), fn)

    async def off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the request checker, one thread: parsing and checking a large body (30,000
        contacts take tens of milliseconds) must not hold the server loop, or the requests arriving
        meanwhile are stamped when it is done, late and bunched, and refused 429 for a rate they did not
        keep. One thread, not one per request: ten bodies checked at once starved the loop of the GIL
        just the same."""
        assert self._loop is not None
        if self._checks is None:
            self._checks = ThreadPoolExecutor(1, thread_name_prefix=f"{self.vendor}-checks")
        return await self._loop.run_in_executor(self._checks, functools.partial(fn, *args))

    def process_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` (already scaled) seconds on the account's job worker: one thread, jobs
        in the order they became due. A vendor processes imports on its own servers and keeps answering
        status requests meanwhile; on the server loop, a queue of large jobs would hold every request
        (a status poll waited seconds behind thirty jobs being applied)."""
        assert self._loop is not None
        if self._jobs is None:
            self._jobs = ThreadPoolExecutor(1, thread_name_prefix=f"{self.vendor}-jobs")
        jobs = self._jobs

        def submit() -> None:
            jobs.submit(self._job_step, fn)

        self._loop.call_later(max(0.0, delay), submit)

    def let_others_in(self, done: int) -> None:
        """Called by a job step holding ``self.lock`` after each item: every 100 items, a request thread
        waiting for the lock gets it before the job goes on, so requests are answered between slices of
        a large job. Handed over, not just released: after a bare release this thread took the lock back
        before the woken server thread could run, and the loop — which takes the lock to record each
        request — stood still for whole jobs (status polls waited a second; requests were stamped late
        and bunched, and refused 429 for a rate the client had kept)."""
        if done % 100 == 99 and self.lock.waiting:
            self.lock.release()
            patience = time.monotonic() + 0.05
            while self.lock.waiting and time.monotonic() < patience:
                time.sleep(0.0002)
            self.lock.acquire()

    def _job_step(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # a simulator bug must show in the test's log, not vanish in the executor
            logging.getLogger("simulators").exception("a simulated job step failed")
        if self.freeze_after_jobs:
            # What a job stored (its members: plain dicts and sets that live as long as the simulator) is
            # left out of every later collection. Python's collector walks all live objects each time
            # their number grows by a quarter: with 1M members that was 23% of a simulator's CPU in a 1M
            # export, on the cores the worker shares. Only a process of its own (``remote``) asks for it.
            gc.freeze()


def _malformed(response: web.StreamResponse) -> web.StreamResponse:
    """The same answer with its body cut in half: JSON no parser accepts."""
    body = response.body if isinstance(response, web.Response) else None
    raw = bytes(body) if isinstance(body, bytes | bytearray) else b""
    status = 200 if response.status == 204 or not raw else response.status
    cut = raw[: max(1, len(raw) // 2)] if raw else b'{"'
    content_type = response.content_type if raw else "application/json"
    return web.Response(body=cut, status=status, content_type=content_type)


def iso_timestamp(epoch: float) -> str:
    """ISO 8601 in UTC with a ``Z``, as the vendors write timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
