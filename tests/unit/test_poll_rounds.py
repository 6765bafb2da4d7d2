"""``poll_jobs``: which jobs one round asks about, in what order (the vendor and storage are stand-ins:
this is the round's own decision, not the adapters')."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from destinations.base import JobStatus
from shared.pipeline import apply
from shared.pipeline.apply import POLL_WAVE, SUBMITTED, poll_jobs


class _Checkpoint:
    def __init__(self, jobs: list[str]) -> None:
        self.jobs: dict[str, dict[str, Any]] = {key: {SUBMITTED: float(n)} for n, key in enumerate(jobs)}
        self.done: dict[str, Any] = {}

    async def persist(self, *, force: bool = False) -> None:
        return None


Events = list[tuple[str, str]]  # ("ask" | "answer", job) in the order they happened


def _round(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[bool]]) -> tuple[list[str], _Checkpoint, Events]:
    """One round over jobs submitted in the order of ``answers``; each job's answers are given in turn (done
    or not), the last one repeated. Returns the jobs asked, in order, the checkpoint and the events."""
    checkpoint = _Checkpoint(list(answers))
    cut = SimpleNamespace(units=[SimpleNamespace(kind="changes")])
    asked: list[str] = []
    events: Events = []

    async def read_job(
        runtime: Any, destination: Any, checkpoint: _Checkpoint, kind: str, key: str, batch: Any
    ) -> JobStatus:
        events.append(("ask", key))
        given = answers[key]
        done = given[min(asked.count(key), len(given) - 1)]
        asked.append(key)
        # A job still running is answered first: no slot of the wave frees before the sweep knows of it.
        await asyncio.sleep(0.2 if done else 0.005)
        events.append(("answer", key))
        if done:
            del checkpoint.jobs[key]
        return JobStatus(done=done)

    @contextlib.asynccontextmanager
    async def destination(*args: Any, **kwargs: Any) -> AsyncIterator[object]:
        yield SimpleNamespace(poll_requests=lambda job, rows: 1)

    monkeypatch.setattr(apply, "_load_checkpoints", lambda runtime, root: (None, cut, {0: checkpoint}))
    monkeypatch.setattr(apply, "UnitRows", lambda *args, **kwargs: SimpleNamespace(emails=lambda kind, key: []))
    monkeypatch.setattr(apply, "open_destination", destination)
    monkeypatch.setattr(apply, "_read_job", read_job)
    result = asyncio.run(poll_jobs(SimpleNamespace(), "root"))  # type: ignore[arg-type]
    assert result.pending_jobs == len(checkpoint.jobs)
    return asked, checkpoint, events


def test_a_sweep_that_finds_every_older_job_done_goes_on_to_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    # The newest was still running when the round began and is done by the time the sweep reaches it.
    asked, checkpoint, events = _round(monkeypatch, {"0": [True], "1": [True], "2": [True], "3": [False, True]})
    assert sorted(asked) == ["0", "1", "2", "3", "3"]
    assert not checkpoint.jobs  # read this round, not a round later
    # Asked within the sweep's wave, beside the others — not after every one of them has answered.
    again = [n for n, event in enumerate(events) if event == ("ask", "3")][1]
    assert again < events.index(("answer", "1")) and again < events.index(("answer", "2"))


def test_a_round_stops_at_the_first_job_still_running_and_asks_the_newest_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Beyond the first wave: the sweep has stopped (a job was running) before it reaches the newest.
    answers = {str(n): [True] for n in range(POLL_WAVE + 4)}
    answers["1"] = [False]
    newest = str(POLL_WAVE + 3)
    answers[newest] = [False, True]
    asked, checkpoint, _ = _round(monkeypatch, answers)
    assert asked.count(newest) == 1 and "1" in asked
    assert newest in checkpoint.jobs and "1" in checkpoint.jobs


def test_polls_that_cost_a_request_per_contact_go_one_at_a_time_and_stop_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Omnisend confirms an untag with a lookup per contact. A wave of such polls started together ran on
    for all their lookups past the round's deadline; one at a time, the round stops within one of them."""
    jobs = [str(n) for n in range(2 * POLL_WAVE)]
    untags = {str(n) for n in range(1, POLL_WAVE + 1)}
    newest = jobs[-1]
    checkpoint = _Checkpoint(jobs)
    for key in untags:
        checkpoint.jobs[key]["untag"] = "export"
    cut = SimpleNamespace(units=[SimpleNamespace(kind="changes")])
    running = {"untag": 0, "batch": 0}
    most = {"untag": 0, "batch": 0}
    asked: list[str] = []

    async def read_job(runtime: Any, destination: Any, checkpoint: _Checkpoint, kind: str, key: str, batch: Any) -> Any:
        asked.append(key)
        which = "untag" if key in untags else "batch"
        running[which] += 1
        most[which] = max(most[which], running[which])
        await asyncio.sleep(0.1 if which == "untag" else 0.02)  # 250 lookups, or one status read
        running[which] -= 1
        if key == newest:  # done ahead of the older ones: the round asks every job
            del checkpoint.jobs[key]
            return JobStatus(done=True)
        return JobStatus(done=False)

    @contextlib.asynccontextmanager
    async def destination(*args: Any, **kwargs: Any) -> AsyncIterator[object]:
        yield SimpleNamespace(poll_requests=lambda job, rows: rows if "untag" in job else 1)

    monkeypatch.setattr(apply, "_load_checkpoints", lambda runtime, root: (None, cut, {0: checkpoint}))
    monkeypatch.setattr(apply, "UnitRows", lambda *args, **kwargs: SimpleNamespace(emails=lambda kind, key: [0] * 250))
    monkeypatch.setattr(apply, "open_destination", destination)
    monkeypatch.setattr(apply, "_read_job", read_job)

    async def one_round() -> float:
        started = time.monotonic()
        await poll_jobs(SimpleNamespace(), "root", deadline=started + 0.25)  # type: ignore[arg-type]
        return time.monotonic() - started

    took = asyncio.run(one_round())

    assert most["untag"] == 1  # the costly polls never overlapped
    assert most["batch"] > 1  # the others still go side by side
    asked_untags = [key for key in asked if key in untags]
    assert 1 <= len(asked_untags) <= 4  # those started before the deadline, not every one of them
    assert set(asked) - untags == set(jobs) - untags  # every status read made
    assert took < 0.25 + 0.1 + 0.15  # within one costly poll of the deadline (and a margin for a slow machine)
