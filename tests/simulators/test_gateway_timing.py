"""A simulator answers requests while its own backend is busy, as a vendor's gateway does: a long job
holding the simulator's lock hands it over to a waiting request. Without this, a 1M SendGrid export saw
the server loop stand still for whole jobs — requests stamped up to 0.3 s late and bunched, refused 429
for a rate the client had kept, status polls answered a second late: the benchmark measured the
simulator, not the product."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from simulators.sendgrid import SendGridSimulator


@pytest.fixture
def sim() -> Iterator[SendGridSimulator]:
    with SendGridSimulator(job_delay=0.0, enforce_limits=False) as simulator:
        yield simulator


def test_a_long_job_hands_the_lock_to_a_waiting_request_within_a_hundred_items(sim: SendGridSimulator) -> None:
    """The contract ``let_others_in`` keeps for the server loop: a thread waiting for the lock gets it
    before the job goes on, and the job goes on only once it is released. (A bare release-and-retake
    let the job take it back first whenever the machine was busy: the loop stood still for whole jobs.)"""
    held: list[float] = []
    waiting = threading.Event()

    def request() -> None:
        waiting.set()
        with sim.lock:
            held.append(time.monotonic())
            time.sleep(0.05)
            held.append(time.monotonic())

    with sim.lock:  # the job step
        waiter = threading.Thread(target=request)
        waiter.start()
        assert waiting.wait(5)
        while not sim.lock.waiting:
            time.sleep(0.001)
        for n in range(100):
            sim.let_others_in(n)
        resumed = time.monotonic()
    waiter.join(5)
    assert len(held) == 2, "the waiting thread did not get the lock while the job ran"
    assert resumed >= held[1], "the job went on while the other thread held the lock"
