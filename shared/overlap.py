"""Storage waits overlapped with work: a run's steps read and write blobs while they compute.

A worker spends much of a step waiting for storage (every request is a round trip; Azurite answers from
another process, Azure from another machine). These helpers let the next piece download, or the last
block upload, while the step works on what it already has. Each is bounded, so memory stays what the
streaming bounds allow plus a few pieces in flight, and each gives results in order and raises a failure
where the caller would have met it.

Threads, not asyncio: the Storage SDK calls used here are synchronous, and a thread waiting on a socket
releases the GIL. One small pool serves the process (``io_pool``); a read-ahead has a thread of its own
because it lives as long as the stream it feeds.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Requests in flight at once for one caller: enough to hide a round trip behind the work, few enough
# that a partition's staged pieces are not all held before the first is decoded.
WINDOW = 4


class LazyPool:
    """A thread pool of the process, created on first use (a forked or spawned worker makes its own)."""

    def __init__(self, workers: int, name: str) -> None:
        self._workers, self._name = workers, name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=self._name)
            return self._pool


_io = LazyPool(8, "blob-io")


def io_pool() -> ThreadPoolExecutor:
    """The process's storage I/O threads."""
    return _io.get()


def in_order(fn: Callable[[T], R], items: Iterable[T], window: int = WINDOW) -> Iterator[R]:
    """``map(fn, items)`` with up to ``window`` calls running ahead of the consumer, results in order.

    A failed call raises when its result is reached, as the plain loop would; calls already running are
    waited for (never left writing behind the caller's back)."""
    pending: deque[Future[R]] = deque()
    source = iter(items)
    pool = io_pool()
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                future.exception()  # wait; the caller is already leaving with an error or early


class Background:
    """Calls run in the I/O pool, at most ``window`` at a time; ``wait`` raises the first failure.

    For writes whose order does not matter (blocks of one blob, the files a step leaves behind)."""

    def __init__(self, window: int = WINDOW) -> None:
        self._window = window
        self._pending: deque[Future[Any]] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        while len(self._pending) >= self._window:
            self._pending.popleft().result()
        self._pending.append(io_pool().submit(fn, *args, **kwargs))

    def wait(self) -> None:
        first: BaseException | None = None
        while self._pending:
            error = self._pending.popleft().exception()
            if error is not None and first is None:
                first = error
        if first is not None:
            raise first


class _End:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Iterator[T]):
    """Iterates ``source`` in a thread of its own, up to ``depth`` items ahead of the consumer.

    ``close`` stops the thread at its next item (a consumer leaving early does not download the rest)."""

    def __init__(self, source: Iterator[T], depth: int = 2) -> None:
        self._queue: queue.Queue[T | _End | _Failed] = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(source,), name="blob-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, item: T | _End | _Failed) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised where it reads
            self._put(_Failed(error))
            return
        self._put(_End())

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._finished = True
            raise StopIteration
        if isinstance(item, _Failed):
            self._finished = True
            raise item.error
        return item

    def close(self) -> None:
        self._stopped.set()
        self._finished = True
        self._thread.join()
