"""The helpers that overlap storage waits with work: order kept, bounds kept, failures raised where met."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from shared.overlap import Background, ReadAhead, in_order


def test_in_order_gives_results_in_input_order_with_calls_running_ahead() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def slow(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 * (n % 3))  # later calls often finish first
        with lock:
            running -= 1
        return n * n

    assert list(in_order(slow, range(20), window=4)) == [n * n for n in range(20)]
    assert 1 < most <= 4  # ran ahead, never more than the window


def test_in_order_raises_the_failure_at_its_place() -> None:
    def fail_at_3(n: int) -> int:
        if n == 3:
            raise ValueError("item 3")
        return n

    got = []
    with pytest.raises(ValueError, match="item 3"):
        for value in in_order(fail_at_3, range(10), window=2):
            got.append(value)
    assert got == [0, 1, 2]


def test_background_bounds_the_calls_in_flight_and_raises_the_first_failure_after_all_ran() -> None:
    done: list[int] = []
    writes = Background(window=2)

    def write(n: int) -> None:
        time.sleep(0.005)
        if n in (2, 4):
            raise OSError(f"write {n} refused")
        done.append(n)

    with pytest.raises(OSError, match="write 2 refused"):
        for n in range(6):
            writes.submit(write, n)  # a failure of an early call may surface here, when the window is full
        writes.wait()
    writes.wait()  # whatever was still in flight has finished
    assert set(done) <= {0, 1, 3, 5}
    assert {0, 1} <= set(done)


def test_read_ahead_yields_everything_then_stops_and_raises_the_sources_failure() -> None:
    assert list(ReadAhead(iter(range(100)), depth=3)) == list(range(100))

    def broken() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("stream cut")

    reader = ReadAhead(broken())
    assert next(reader) == 1 and next(reader) == 2
    with pytest.raises(ConnectionError, match="stream cut"):
        next(reader)
    with pytest.raises(StopIteration):
        next(reader)


def test_read_ahead_closed_early_stops_pulling_from_its_source() -> None:
    pulled = 0

    def endless() -> Iterator[int]:
        nonlocal pulled
        while True:
            pulled += 1
            yield pulled

    reader = ReadAhead(endless(), depth=2)
    assert next(reader) == 1
    reader.close()
    after = pulled
    time.sleep(0.05)
    assert pulled == after <= 4  # the one read, two queued, one waiting to be queued
    with pytest.raises(StopIteration):
        next(reader)
