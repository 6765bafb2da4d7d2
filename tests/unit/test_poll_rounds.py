"""``poll_jobs``: which jobs one round asks about, in what order (the vendor and storage are stand-ins:
this is the round's own decision, not the adapters')."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from destinations.base import JobStatus
from shared.pipeline import apply
from shared.pipeline.apply import SUBMITTED, poll_jobs


class _Checkpoint:
    def __init__(self, jobs: list[str]) -> None:
        self.jobs: dict[str, dict[str, Any]] = {key: {SUBMITTED: float(n)} for n, key in enumerate(jobs)}
        self.done: dict[str, Any] = {}

    async def persist(self, *, force: bool = False) -> None:
        return None


def _round(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[bool]]) -> tuple[list[str], _Checkpoint]:
    """One round over jobs submitted in the order of ``answers``; each job's answers are given in turn (done
    or not), the last one repeated. Returns the jobs asked, in order, and the checkpoint."""
    checkpoint = _Checkpoint(list(answers))
    cut = SimpleNamespace(units=[SimpleNamespace(kind="changes")])
    asked: list[str] = []

    async def read_job(
        runtime: Any, destination: Any, checkpoint: _Checkpoint, kind: str, key: str, batch: Any
    ) -> JobStatus:
        await asyncio.sleep(0.01 * (len(asked) % 3))  # answers arrive out of order
        given = answers[key]
        done = given[min(asked.count(key), len(given) - 1)]
        asked.append(key)
        if done:
            del checkpoint.jobs[key]
        return JobStatus(done=done)

    @contextlib.asynccontextmanager
    async def destination(*args: Any, **kwargs: Any) -> AsyncIterator[object]:
        yield object()

    monkeypatch.setattr(apply, "_load_checkpoints", lambda runtime, root: (None, cut, {0: checkpoint}))
    monkeypatch.setattr(apply, "UnitRows", lambda *args, **kwargs: SimpleNamespace(emails=lambda kind, key: []))
    monkeypatch.setattr(apply, "open_destination", destination)
    monkeypatch.setattr(apply, "_read_job", read_job)
    result = asyncio.run(poll_jobs(SimpleNamespace(), "root"))  # type: ignore[arg-type]
    assert result.pending_jobs == len(checkpoint.jobs)
    return asked, checkpoint


def test_a_round_asks_the_newest_again_when_every_older_job_was_done() -> None:
    with pytest.MonkeyPatch.context() as patch:
        # The newest was still running when the round began and is done by the end of the sweep.
        asked, checkpoint = _round(patch, {"0": [True], "1": [True], "2": [True], "3": [False, True]})
    assert sorted(asked) == ["0", "1", "2", "3", "3"] and asked[-1] == "3"
    assert not checkpoint.jobs  # read this round, not a round later


def test_a_round_stops_at_the_first_job_still_running_and_asks_the_newest_once() -> None:
    with pytest.MonkeyPatch.context() as patch:
        asked, checkpoint = _round(patch, {"0": [True], "1": [False], "2": [True], "3": [False, True]})
    assert asked.count("3") == 1 and "0" in asked and "1" in asked
    assert "3" in checkpoint.jobs and "1" in checkpoint.jobs
