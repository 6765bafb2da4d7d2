"""The local equivalent of ``FUNCTIONS_WORKER_PROCESS_COUNT``: CPU-bound activities in worker processes.

In Azure the Functions host can run several Python worker processes per instance, each indexing the
app, and spreads invocations across them; that is how CPU-bound activities use more than one core (the
GIL keeps one process on one core). ``WorkerPoolDispatch`` does the same for ``LocalDurableHost``:
orchestrations and the I/O-bound activities stay on the in-process worker (``WorkerDispatch``), the
CPU-bound ones (stage, diff, finish) go to a ``ProcessPoolExecutor`` whose processes each start their
own ``FunctionsWorker`` — init, metadata, load, exactly as the in-process one — and invoke the activity
through it, so input and result take the same JSON path and a failure the same text.

A pool process sees what the host process's worker sees: the environment (``EXPORT_*``; spawned
processes inherit ``os.environ``), a ``Runtime`` built from the host's ``Settings`` (``PoolRuntime``:
settings set programmatically, such as the throwaway containers, are passed explicitly) and the host's
secret store through ``devtools.secret_relay``. Its log records are forwarded to the host process's
loggers (as the host collects every worker's logs); each keeps the pool process's pid in
``record.process``. Its OpenTelemetry spans and metrics stay in the pool process (in Azure each worker
exports its own).

What does not cross: a ``Runtime.transport_factory`` (the CPU-bound activities make no vendor calls) and
anything a test patches in the host process after the pool started — which is why tests run with one
process unless they test the pool.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from devtools.durable_host import WorkerDispatch, activity_failure
from shared.memory import PROCESS_ENVIRONMENT
from shared.orchestration.names import DIFF_PARTITION, FINISH_PARTITION, STAGE_PART
from shared.settings import Settings

CPU_BOUND = frozenset({STAGE_PART, DIFF_PARTITION, FINISH_PARTITION})
PROCESSES_VARIABLE = "LOCAL_WORKER_PROCESSES"


def processes_from_env(default: int | None) -> int | None:
    """``LOCAL_WORKER_PROCESSES``: a count, or ``auto`` for one per core (``None``); unset → ``default``."""
    value = os.environ.get(PROCESSES_VARIABLE, "").strip().lower()
    if not value:
        return default
    if value == "auto":
        return None
    count = int(value)
    if count < 1:
        raise ValueError(f"{PROCESSES_VARIABLE} must be at least 1 or 'auto', not {value!r}")
    return count


@dataclass(frozen=True)
class PoolRuntime:
    """Installs a pool process's ``Runtime``: the host's settings, blob clients of its own, and the host's
    secret store through a ``SecretRelay`` (the Key Vault stand-in lives in the host process)."""

    settings: Settings
    relay_address: tuple[str, int]
    relay_authkey: bytes

    def __call__(self) -> None:
        from devtools.secret_relay import RelayedSecretStore
        from shared.runtime import Runtime, set_runtime
        from shared.storage import BlobStore

        set_runtime(
            Runtime(
                settings=self.settings,
                store=BlobStore.connect(self.settings, self.settings.container),
                segments=BlobStore.connect(self.settings, self.settings.segments_container),
                secrets=RelayedSecretStore(self.relay_address, self.relay_authkey),
            )
        )


# ---- inside a pool process ------------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None


def _start_pool_process(log_queue: Any, log_level: int, setup: Callable[[], None] | None) -> None:
    """The pool's initializer: forward logs to the host process, install the runtime, start the worker."""
    global _loop
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    root.setLevel(log_level)
    if setup is not None:
        setup()
    from devtools.functions_worker import FunctionsWorker

    FunctionsWorker.shared()
    # One loop for the process's life, as a worker has (the runtime runs sync functions in its executor).
    _loop = asyncio.new_event_loop()


def _invoke_activity(name: str, input_json: str | None) -> tuple[bool, str]:
    """(True, result JSON) or (False, the host's failure text); exceptions carrying custom constructor
    arguments do not survive pickling, so the failure comes back as text."""
    from devtools.functions_worker import FunctionsWorker, InvocationFailed

    assert _loop is not None, "the pool process was not initialised"
    try:
        return True, _loop.run_until_complete(FunctionsWorker.shared().invoke_activity(name, input_json))
    except InvocationFailed as failed:
        return False, failed.host_text()


def _ready() -> int:
    return os.getpid()


# ---- in the host process --------------------------------------------------------------------------


class _ToHostLoggers(logging.Handler):
    """Hands a pool process's record to the host process's logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


class WorkerPoolDispatch:
    """``WorkerDispatch`` plus worker processes for the ``cpu_bound`` activities.

    ``processes``: how many pool processes (``None``: one per core); with 1 there is no pool and every
    call goes to the in-process worker, exactly as ``WorkerDispatch``. ``setup`` runs first in each pool
    process (picklable: ``PoolRuntime``). Call ``close`` when done.
    """

    def __init__(
        self,
        processes: int | None = None,
        *,
        cpu_bound: Iterable[str] = CPU_BOUND,
        setup: Callable[[], None] | None = None,
    ) -> None:
        self.processes = processes if processes is not None else (os.cpu_count() or 1)
        if self.processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self.cpu_bound = frozenset(cpu_bound)
        self.in_process = WorkerDispatch()
        self._setup = setup
        self._pool: ProcessPoolExecutor | None = None
        self._logs: Any = None
        self._listener: logging.handlers.QueueListener | None = None
        if self.processes > 1:
            # The worker processes allocate as the deployed app does (app settings read at process start,
            # shared/memory.py): spawned processes inherit this process's environment.
            os.environ.update(PROCESS_ENVIRONMENT)
            # spawn, not fork: the host process has threads (the simulator, Azurite's readers, the relay).
            context = multiprocessing.get_context("spawn")
            self._logs = context.Queue()
            self._listener = logging.handlers.QueueListener(self._logs, _ToHostLoggers())
            self._listener.start()
            self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_pool_process,
            initargs=(self._logs, logging.getLogger().getEffectiveLevel(), self._setup),
        )
        # The first submit starts every process: they index the app while the caller prepares its run.
        pool.submit(_ready)
        return pool

    async def orchestrate(self, name: str, context_json: str) -> str:
        return await self.in_process.orchestrate(name, context_json)

    async def activity(self, name: str, input_json: str | None) -> str:
        pool = self._pool
        if pool is None or name not in self.cpu_bound:
            return await self.in_process.activity(name, input_json)
        try:
            ok, text = await asyncio.wrap_future(pool.submit(_invoke_activity, name, input_json))
        except BrokenProcessPool as broken:
            # A worker process died (or could not start): the host reports the invocation failed and
            # starts a new worker; the Durable retry runs the activity again.
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise activity_failure(name, f"Result: Failure\nException: {broken}\nStack: ") from None
        if not ok:
            raise activity_failure(name, text)
        return text

    def close(self) -> None:
        """Stop the pool processes (after their current activity), then the log forwarding."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._logs is not None:
            self._logs.close()
            self._logs.join_thread()
            self._logs = None
