"""Step 5 — apply one unit of batches through the vendor adapter, and poll asynchronous jobs.

The batches were cut once for the run (``shared.pipeline.cut``), across partitions, so a retried or
replayed activity finds the same batches and skips those its unit's checkpoint shows as done — a vendor
upsert repeated is harmless, a profile skipped would not be. Asynchronous jobs are only *submitted*
here; ``poll_jobs`` checks them later, between durable timers, never by sleeping.

Rows the vendor suppresses are withheld from each batch (``shared.pipeline.suppressions``) and recorded
with the batch (or its job), so the vendor is only asked about rows it was sent. Every reason stored in a
checkpoint is vendor text scrubbed of the credential: the rejected-rows file is built from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from destinations.base import (
    BatchResult,
    Contact,
    Destination,
    JobStatus,
    Outcome,
    RowResult,
    Verdicts,
    emails_of,
    failed_rows,
)
from shared.errors import RequestRejected, RetryableDestinationError
from shared.overlap import in_order
from shared.pipeline import suppressions
from shared.pipeline.cut import BatchCut, load_cut
from shared.pipeline.pacing import with_retries
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.unit_rows import UnitInput, UnitRows
from shared.pipeline.vendor import make_ready, open_destination, retry_policy
from shared.runtime import Runtime

CHECKPOINT_EVERY_SECONDS = 2.0
SUBMITTED = "_submitted"  # when a job was submitted: the newest one is polled first
WITHHELD = "_withheld"  # rows of a job's batch that were not sent (suppressed): email → [outcome, reason]


class ApplyResult(BaseModel):
    unit: int
    batches: int = 0
    pending_jobs: int = 0
    more: bool = False  # stopped at its time budget: call again for the batches not yet sent
    # Our own work before the first vendor call (reading the unit's rows, encoding): the benchmark projects
    # only the rest to real vendor time.
    setup_seconds: float = 0.0
    # Seconds since the unit's oldest job still pending was submitted, when the activity ended: the await
    # phase does not wait the first poll delay again for a job that has already waited it.
    oldest_job_age: float | None = None


class PollResult(BaseModel):
    pending_jobs: int = 0
    retry_after: float | None = None


def summarise(
    results: Sequence[RowResult] | None,
    contacts: Sequence[Contact],
    expected: Outcome,
    destination: Destination,
    withheld: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The checkpoint entry of a finished batch: only rows that did not end as ``expected``, and ids.

    A contact the vendor did not mention is *failed*, never assumed delivered. Reasons are vendor text:
    scrubbed of the credential before they are stored (the rejected-rows file is built from them).
    """
    find = _finder(results)
    scrubbed: dict[str, str] = {}  # a batch's reasons repeat (a job's default reason is every row's)
    bad: dict[str, list[str]] = {}
    ids: dict[str, str] = {}
    for offset, email in enumerate(emails_of(contacts)):
        held = withheld.get(email) if withheld else None
        found = (Outcome(held[0]), held[1], None) if held is not None else find(email)
        if found is None:
            bad[str(offset)] = [Outcome.FAILED.value, "the vendor's answer did not mention this contact"]
            continue
        outcome, reason, vendor_id = found
        if outcome is not expected:
            text = reason or ""
            if text not in scrubbed:
                scrubbed[text] = destination.scrub(text)
            bad[str(offset)] = [outcome.value, scrubbed[text]]
        if vendor_id:
            ids[str(offset)] = vendor_id
    return {"bad": bad, "ids": ids}


_Found = tuple[Outcome, str | None, str | None]  # outcome, reason, vendor id


def _finder(results: Sequence[RowResult] | None) -> Callable[[str], _Found | None]:
    """email → what the vendor said of it, or None when its answer did not mention the email. Read from
    ``Verdicts`` as they stand (no result object per row), else from the results, the last one of an
    email winning."""
    if isinstance(results, Verdicts):
        members = set(results.emails)
        verdicts = results.verdicts
        default: _Found = (results.default, results.default_reason, None)

        def from_verdicts(email: str) -> _Found | None:
            if email not in members:
                return None
            verdict = verdicts.get(email)
            return default if verdict is None else (Outcome(verdict[0]), verdict[1] or None, None)

        return from_verdicts
    by_email: dict[str, _Found] = {r.email: (r.outcome, r.reason, r.vendor_id) for r in results or []}
    return by_email.get


def whole_batch(outcome: Outcome, reason: str, count: int) -> dict[str, Any]:
    return {"bad": {str(i): [outcome.value, reason] for i in range(count)}, "ids": {}}


class Checkpoint:
    """One unit's progress: finished batches (with their non-successes) and submitted jobs, by batch.

    Built in a worker thread (it reads storage); the activity's event loop is then its only writer, and
    ``persist`` uploads it without holding the loop up (see the note above ``JobDrain``)."""

    def __init__(self, runtime: Runtime, plan: Plan, unit: int) -> None:
        self.runtime = runtime
        self.name = plan.paths.checkpoint(unit)
        self.data: dict[str, Any] = runtime.store.read_json_or_none(self.name) or {"done": {}, "jobs": {}}
        self.saved_at = time.monotonic()
        self._writing: asyncio.Lock | None = None

    @property
    def done(self) -> dict[str, Any]:
        return self.data["done"]

    @property
    def jobs(self) -> dict[str, Any]:
        return self.data["jobs"]

    async def persist(self, *, force: bool = False) -> None:
        """Store the checkpoint (at most every ``CHECKPOINT_EVERY_SECONDS`` unless ``force``). The document
        is serialised on the loop, where it changes, and uploaded in a thread; uploads take turns, each
        serialising when its turn comes, so an older state never lands after a newer one."""
        if not force and time.monotonic() - self.saved_at < CHECKPOINT_EVERY_SECONDS:
            return
        self.saved_at = time.monotonic()
        if self._writing is None:
            self._writing = asyncio.Lock()
        async with self._writing:
            payload = orjson.dumps(self.data, option=orjson.OPT_INDENT_2)
            await asyncio.to_thread(self.runtime.store.write_bytes, self.name, payload)


def expected_outcome(kind: str) -> Outcome:
    return Outcome.UPSERTED if kind == "changes" else Outcome.REMOVED


async def _run_batch(
    destination: Destination,
    runtime: Runtime,
    checkpoint: Checkpoint,
    kind: str,
    index: int,
    contacts: Sequence[Contact],
    encoded: list[bytes],
) -> None:
    key = str(index)
    expected = expected_outcome(kind)
    send, send_encoded = contacts, encoded
    withheld: dict[str, list[str]] = {}
    if kind == "changes":
        send, send_encoded, withheld = await asyncio.to_thread(
            suppressions.withhold, contacts, encoded, destination.suppressed
        )
    if not send:
        checkpoint.done[key] = summarise([], contacts, expected, destination, withheld)
        await checkpoint.persist()
        return

    async def call() -> BatchResult:
        if kind == "changes":
            return await destination.upsert(send, send_encoded)
        return await destination.remove(send)

    try:
        result = await with_retries(call, retry_policy(runtime))
    except RetryableDestinationError as exc:
        reason = destination.scrub(f"gave up after retries: {exc}")
        checkpoint.done[key] = whole_batch(Outcome.FAILED, reason, len(contacts))
    except RequestRejected as exc:
        checkpoint.done[key] = whole_batch(Outcome.REJECTED, destination.scrub(str(exc)), len(contacts))
    else:
        if result.job is not None:
            checkpoint.jobs[key] = {**result.job, SUBMITTED: time.time(), WITHHELD: withheld}
        else:
            checkpoint.done[key] = await asyncio.to_thread(
                summarise, result.results, contacts, expected, destination, withheld
            )
    await checkpoint.persist()


async def apply_unit(runtime: Runtime, root: str, unit: int, *, deadline: float | None = None) -> ApplyResult:
    """Send the batches of apply unit ``unit``. Resumes from the unit's checkpoint.

    ``deadline`` (``time.monotonic()``) bounds the activity: no batch starts after it; the batches in
    flight finish, the checkpoint records them, and the result says ``more`` so the orchestrator calls
    again for the rest — however large the unit and however slow the vendor's rate limit.

    Raises CredentialRefused / TargetNotFound (the run fails at once); vendor failures of single
    batches become per-row outcomes instead.
    """
    began = time.monotonic()
    plan, cut, checkpoint = await asyncio.to_thread(_load_unit, runtime, root, unit)
    spec = cut.units[unit]
    kind = spec.kind
    result = ApplyResult(unit=unit, batches=spec.end - spec.first)
    todo = [b for b in range(spec.first, spec.end) if str(b) not in checkpoint.done and str(b) not in checkpoint.jobs]
    if not todo:
        result.pending_jobs = len(checkpoint.jobs)
        return result
    # Units go out ``width`` at a time: each has its share of the account's rate budget, and its place
    # among the units running beside it staggers their first requests.
    running = max(1, min(plan.width, len(cut.units)))
    async with open_destination(runtime, plan, share=1.0 / running, phase=(unit % running) / running) as destination:
        await make_ready(runtime, plan, destination)
        await asyncio.to_thread(suppressions.hand_over, runtime, plan, destination)
        rows = UnitInput(runtime, plan, cut, destination, kind, todo)
        slots = asyncio.Semaphore(runtime.settings.batch_concurrency)
        sent: list[int] = []  # batches this call started

        async def one(index: int) -> None:
            async with slots:
                # At least one batch per call, whatever the budget: every unit makes progress.
                if deadline is not None and sent and time.monotonic() >= deadline:
                    result.more = True
                    return
                batch, bodies = await rows.prepare(index)
                if not sent:
                    result.setup_seconds = round(time.monotonic() - began, 3)
                sent.append(index)
                await _run_batch(destination, runtime, checkpoint, kind, index, batch, bodies)

        drain = None
        if type(destination).limits.asynchronous:
            # Jobs finish while later batches wait for the pacer: read their answers in the meantime,
            # so only the last jobs are left for the poll rounds after apply.
            first_poll = runtime.settings.first_poll_seconds * runtime.settings.vendor_time_scale
            drain = JobDrain(
                runtime, destination, checkpoint, kind, rows.emails, first_poll, waiting=lambda: len(sent) < len(todo)
            )
            drain.start()
        try:
            await asyncio.gather(*(one(b) for b in todo))
        finally:
            if drain is not None:
                await drain.stop()
        result.pending_jobs = len(checkpoint.jobs)
        if checkpoint.jobs:
            oldest = min(float(job.get(SUBMITTED, time.time())) for job in checkpoint.jobs.values())
            result.oldest_job_age = round(max(0.0, time.time() - oldest), 3)
    await checkpoint.persist(force=True)
    return result


def _load_unit(runtime: Runtime, root: str, unit: int) -> tuple[Plan, BatchCut, Checkpoint]:
    """The run's plan and cut and the unit's checkpoint: storage reads, made off the event loop."""
    plan = load_plan(runtime, root)
    cut = load_cut(runtime, plan)
    if cut is None:
        raise RuntimeError(f"{root}: apply ran before the batches were cut")
    return plan, cut, Checkpoint(runtime, plan, unit)


# CPU-bound steps (reading and encoding a chunk of the unit's rows, summarising an answer) run in worker
# threads (``asyncio.to_thread``): on the event loop they would hold back requests the pacer has already
# released, which then reach the vendor bunched together — more of them inside one rate window than the
# pacer allowed, answered 429. Off the loop, the GIL's switch interval (5 ms) bounds that delay. What runs
# there touches no state of the loop's (``UnitInput`` guards its own with a lock).


class JobDrain:
    """Polls a unit's oldest submitted job while later batches of the unit still wait to be sent: one
    request at a time, only for a job older than the first poll delay, backing off by the vendor's hint
    while it runs. Once every batch is out, polling is the await phase's (``poll_jobs``)."""

    def __init__(
        self,
        runtime: Runtime,
        destination: Destination,
        checkpoint: Checkpoint,
        kind: str,
        emails_of: Callable[[int], Sequence[Contact]],
        first_poll: float,
        waiting: Callable[[], bool],
    ) -> None:
        self.runtime, self.destination, self.checkpoint = runtime, destination, checkpoint
        self.kind, self.emails_of, self.first_poll = kind, emails_of, first_poll
        self.waiting = waiting  # batches of the unit still wait to be sent: only then is polling overlapped
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` or until stopped; True when stopped."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        wait = self.first_poll
        while not await self._pause(wait):
            jobs = self.checkpoint.jobs
            if not jobs or not self.waiting():
                # Nothing to read, or nothing left to overlap with: the await phase reads the rest.
                wait = self.first_poll
                continue
            key = min(jobs, key=lambda k: float(jobs[k].get(SUBMITTED, 0.0)))
            age = time.time() - float(jobs[key].get(SUBMITTED, 0.0))
            if age < self.first_poll:
                wait = self.first_poll - age
                continue
            batch = await asyncio.to_thread(self.emails_of, int(key))
            self.polls += 1
            try:
                status = await _read_job(self.runtime, self.destination, self.checkpoint, self.kind, key, batch)
            except RetryableDestinationError as exc:
                wait = max(self.first_poll, exc.retry_after or 0.0)
                continue
            if not status.done:
                wait = max(self.first_poll, status.retry_after or 0.0)
                continue
            await self.checkpoint.persist()
            wait = 0.0  # the next oldest may be done too


async def _read_job(
    runtime: Runtime, destination: Destination, checkpoint: Checkpoint, kind: str, key: str, batch: Sequence[Contact]
) -> JobStatus:
    """Poll job ``key`` of ``checkpoint`` (sent for ``batch``); once it is done, its rows' outcomes move
    from the unit's submitted jobs into its finished batches (the caller saves the checkpoint).
    Raises RetryableDestinationError, CredentialRefused."""
    job = checkpoint.jobs[key]
    status = await _poll_one(runtime, destination, job, batch)
    if status.done:
        checkpoint.done[key] = await asyncio.to_thread(
            summarise, status.results, batch, expected_outcome(kind), destination, job.get(WITHHELD)
        )
        del checkpoint.jobs[key]
    return status


async def _poll_one(
    runtime: Runtime, destination: Destination, job: dict[str, Any], contacts: Sequence[Contact]
) -> JobStatus:
    """Poll one job for the rows that were sent (withheld rows are not the vendor's to answer for).

    A request the vendor refuses outright (4xx other than 401/403/404/429) ends the job: its rows are
    ``failed`` with the vendor's words and sent again at the next run. Raises RetryableDestinationError,
    CredentialRefused."""
    withheld = job.get(WITHHELD) or {}
    sent = suppressions.without(contacts, withheld) if withheld else contacts
    try:
        return await with_retries(functools.partial(destination.poll, job, sent), retry_policy(runtime))
    except RequestRejected as exc:
        reason = destination.scrub(f"the vendor refused to report on the job: {exc}")
        return JobStatus(done=True, results=failed_rows(sent, reason))


# Polls in flight at once in a round: at most this many requests are spent on jobs that turn out to be
# still running once one of them is (those already on their way when it answered).
POLL_WAVE = 8


async def poll_jobs(runtime: Runtime, root: str, *, deadline: float | None = None) -> PollResult:
    """Poll the submitted jobs of every unit, oldest first, stopping at the first one still running.

    Vendors work through an account's jobs in the order they were submitted: the oldest job is asked
    first (beside the newest, below); once it is done, the others follow in submission order,
    ``POLL_WAVE`` at a time, until one is still running. So a job that has finished is read at the next
    round, not only once the newest is done, and each job is read about once. The newest job is asked
    too: if *it* is done while an older one runs, the vendor did not keep to the order (or that job has
    stalled), and every other job is asked — a stalled job never hides the finished ones behind it.
    Jobs that are done move into their unit's checkpoint. No poll starts after ``deadline``
    (``time.monotonic()``); the rest wait for the next round.
    """
    loaded = await asyncio.to_thread(_load_checkpoints, runtime, root)
    if loaded is None:
        return PollResult()
    plan, cut, checkpoints = loaded
    pending = sorted(
        (float(job.get(SUBMITTED, 0.0)), unit, key)
        for unit, checkpoint in checkpoints.items()
        for key, job in checkpoint.jobs.items()
    )
    if not pending:
        return PollResult()
    outcome = PollResult()
    # Jobs are asked in submission order, which interleaves the units and so the partitions: a bounded
    # cache would read a partition again for nearly every job (at 1M rows for Omnisend, thousands of
    # downloads). Every partition a round touches is kept for the round, as each is needed again.
    rows = UnitRows(runtime, plan, cut, keep=None)
    changed: set[int] = set()
    asked: set[tuple[int, str]] = set()
    running = asyncio.Event()  # a job still runs: in order, the ones submitted after it are not asked
    slots = asyncio.Semaphore(POLL_WAVE)
    # Polls that cost a request per contact (Omnisend's untag confirmations: up to 250 lookups each) go
    # one at a time. Side by side they add no speed — the vendor's rate limit paces the lookups — but a
    # wave of them started just before the deadline ran on for the wave's every lookup (8 × 250 at 400 a
    # minute: five minutes); one at a time, a round ends within one such poll of its deadline.
    costly = asyncio.Lock()

    def late(me: tuple[int, str] | None = None) -> bool:
        # At least one poll per call, whatever the budget: every round makes progress.
        return deadline is not None and bool(asked - {me}) and time.monotonic() >= deadline

    async def poll(destination: Destination, unit: int, key: str, *, in_order: bool) -> bool:
        """Ask about one job; True when it is done (and recorded)."""
        async with slots:
            if late() or (in_order and running.is_set()):
                return False
            asked.add((unit, key))
            checkpoint, kind = checkpoints[unit], cut.units[unit].kind
            batch = await asyncio.to_thread(rows.emails, kind, int(key))
            one_at_a_time = destination.poll_requests(checkpoint.jobs[key], len(batch)) > 1
            async with costly if one_at_a_time else contextlib.nullcontext():
                if one_at_a_time and (late((unit, key)) or (in_order and running.is_set())):
                    asked.discard((unit, key))  # the deadline passed, or a job was found running, while it waited
                    return False
                try:
                    status = await _read_job(runtime, destination, checkpoint, kind, key, batch)
                except RetryableDestinationError as exc:
                    outcome.retry_after = max(outcome.retry_after or 0.0, exc.retry_after or 0.0)
                    if in_order:
                        running.set()
                    return False
            if not status.done:
                if status.retry_after is not None:
                    outcome.retry_after = max(outcome.retry_after or 0.0, status.retry_after)
                if in_order:  # only the sweep in submission order stops at a running job
                    running.set()
                return False
            changed.add(unit)
            return True

    async with open_destination(runtime, plan, share=1.0) as destination:
        (_, unit, key), newest = pending[0], pending[-1]
        # The oldest and the newest are asked side by side: a round asks the newest whenever the sweep
        # stops at a running job (or reaches it), so asking it at once adds no request to the round, and a
        # round in which nothing is done takes one round trip, not two. (Asked first rather than last, the
        # newest may still be running where it would have been done after the sweep: read a round later.)
        probes = [poll(destination, unit, key, in_order=True)]
        if len(pending) > 1:
            probes.append(poll(destination, newest[1], newest[2], in_order=False))
        oldest_done, *newest_done = await asyncio.gather(*probes)
        if oldest_done:
            # The sweep goes on to the newest when the probe found it running: a sweep over many jobs takes
            # seconds (a 1M SendGrid export: 31 jobs, 8 in flight, 0.8 s an answer, 4 s), and the newest,
            # done meanwhile, was otherwise left for the next round. In order, it is asked only if every
            # job before it was done (or within the wave that met the one still running).
            sweep = pending[1:] if newest_done and not newest_done[0] else pending[1:-1]
            await asyncio.gather(*(poll(destination, u, k, in_order=True) for _, u, k in sweep))
        left = [(u, k) for _, u, k in pending if (u, k) not in asked]
        if newest_done and newest_done[0] and left:
            # The newest is done while an older one runs: not in order, or that one stalled — ask them all.
            await asyncio.gather(*(poll(destination, u, k, in_order=False) for u, k in left))
    await asyncio.gather(*(checkpoints[unit].persist(force=True) for unit in sorted(changed)))
    outcome.pending_jobs = sum(len(checkpoint.jobs) for checkpoint in checkpoints.values())
    return outcome


def _load_checkpoints(runtime: Runtime, root: str) -> tuple[Plan, BatchCut, dict[int, Checkpoint]] | None:
    """The run's plan and cut and every unit's checkpoint (None before the cut): read off the event loop."""
    plan = load_plan(runtime, root)
    cut = load_cut(runtime, plan)
    if cut is None:
        return None
    units = range(len(cut.units))
    # Read side by side: one after another, a round spent most of its time reading checkpoints.
    return plan, cut, dict(zip(units, in_order(lambda unit: Checkpoint(runtime, plan, unit), units), strict=True))
