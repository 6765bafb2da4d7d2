"""Step 4b/5 — apply one partition's changes through the vendor adapter, and poll asynchronous jobs.

Batches are cut deterministically from the diff files (by the adapter's item and byte limits), so a
retried or replayed activity finds the same batches and skips those its checkpoint shows as done —
a vendor upsert repeated is harmless, a profile skipped would not be. Asynchronous jobs are only
*submitted* here; ``poll_jobs`` checks them later, between durable timers, never by sleeping.

Rows the vendor suppresses are withheld from each batch (``shared.pipeline.suppressions``) and recorded
with the batch (or its job), so the vendor is only asked about rows it was sent. Every reason stored in a
checkpoint is vendor text scrubbed of the credential: the rejected-rows file is built from it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from destinations.base import BatchResult, Contact, Destination, JobStatus, RowOutcome, RowResult, VendorLimits
from shared.errors import RequestRejected, RetryableDestinationError
from shared.pipeline import suppressions
from shared.pipeline.layout import SEP
from shared.pipeline.pacing import with_retries
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.vendor import open_destination, retry_policy
from shared.runtime import Runtime

CHECKPOINT_EVERY_SECONDS = 2.0
KINDS = ("upserts", "removals")
SUBMITTED = "_submitted"  # when a job was submitted: the newest one is polled first
WITHHELD = "_withheld"  # rows of a job's batch that were not sent (suppressed): email → [outcome, reason]


class ApplyResult(BaseModel):
    partition: int
    batches: int = 0
    pending_jobs: int = 0
    more: bool = False  # stopped at its time budget: call again for the batches not yet sent
    # Our own work before the first vendor call (reading the partition, encoding): the benchmark projects
    # only the rest to real vendor time.
    setup_seconds: float = 0.0


class PollResult(BaseModel):
    pending_jobs: int = 0
    retry_after: float | None = None


@dataclass(slots=True)
class Row:
    contact: Contact
    record: str  # the diff record, split again only by finish (keeps a partition's rows small)

    @property
    def fields(self) -> list[str]:
        return self.record.split(SEP)


def read_records(runtime: Runtime, plan: Plan, partition: int, kind: str) -> list[str]:
    """The diff file's records, unsplit."""
    data = runtime.store.read_bytes_or_none(plan.paths.diff_file(partition, kind)) or b""
    return [record for record in data.decode().split("\n") if record]


def read_contacts(runtime: Runtime, plan: Plan, partition: int, kind: str) -> list[Contact]:
    """Email-only contacts of a diff file: what polling needs to map a job's answer back to rows."""
    return [Contact(record.split(SEP, 1)[0]) for record in read_records(runtime, plan, partition, kind)]


def read_rows(runtime: Runtime, plan: Plan, partition: int, kind: str) -> list[Row]:
    """Rows of a diff file as contacts (upserts carry attributes; removals only email and vendor id)."""
    data = runtime.store.read_bytes_or_none(plan.paths.diff_file(partition, kind)) or b""
    attributes = plan.export.attributes()
    rows: list[Row] = []
    append = rows.append
    for record in data.decode().split("\n"):
        if not record:
            continue
        if kind == "upserts":
            # email, old hash, new hash, vendor id, part, line, values...
            email, _old, _new, vendor_id, _part, _line, *values = record.split(SEP)
            attrs = {name: value for name, value in zip(attributes, values, strict=False) if value}
        else:
            # email, hash, flags, vendor id
            email, _digest, _flags, vendor_id = record.split(SEP)
            attrs = {}
        append(Row(Contact(email, attrs, vendor_id or None), record))
    return rows


def cut_batches(sizes: Sequence[int], limits: VendorLimits, kind: str) -> list[tuple[int, int]]:
    """[start, end) row ranges within the item limit and, for upserts, the body-size limit."""
    max_items = limits.upsert_batch_items if kind == "upserts" else limits.remove_batch_items
    max_bytes = (limits.upsert_batch_bytes or 0) - limits.envelope_bytes if kind == "upserts" else 0
    batches: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, size in enumerate(sizes):
        count = i - start
        if count and (count >= max_items or (max_bytes > 0 and used + size + 1 > max_bytes)):
            batches.append((start, i))
            start, used = i, 0
        used += size + 1
    if start < len(sizes):
        batches.append((start, len(sizes)))
    return batches


def summarise(
    results: list[RowResult] | None,
    contacts: Sequence[Contact],
    expected: RowOutcome,
    destination: Destination,
    withheld: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The checkpoint entry of a finished batch: only rows that did not end as ``expected``, and ids.

    A contact the vendor did not mention is *failed*, never assumed delivered. Reasons are vendor text:
    scrubbed of the credential before they are stored (the rejected-rows file is built from them).
    """
    by_email = {r.email: r for r in results or []}
    for email, (outcome, reason) in (withheld or {}).items():
        by_email[email] = RowResult(email, RowOutcome(outcome), reason)
    bad: dict[str, list[str]] = {}
    ids: dict[str, str] = {}
    for offset, contact in enumerate(contacts):
        result = by_email.get(contact.email)
        if result is None:
            bad[str(offset)] = [RowOutcome.FAILED.value, "the vendor's answer did not mention this contact"]
            continue
        if result.outcome is not expected:
            bad[str(offset)] = [result.outcome.value, destination.scrub(result.reason or "")]
        if result.vendor_id:
            ids[str(offset)] = result.vendor_id
    return {"bad": bad, "ids": ids}


def whole_batch(outcome: RowOutcome, reason: str, count: int) -> dict[str, Any]:
    return {"bad": {str(i): [outcome.value, reason] for i in range(count)}, "ids": {}}


class Checkpoint:
    """Per-partition progress: finished batches (with their non-successes) and submitted jobs."""

    def __init__(self, runtime: Runtime, plan: Plan, partition: int) -> None:
        self.runtime = runtime
        self.name = plan.paths.checkpoint(partition)
        self.data: dict[str, Any] = runtime.store.read_json_or_none(self.name) or {
            kind: {"done": {}, "jobs": {}} for kind in KINDS
        }
        self.saved_at = time.monotonic()

    def done(self, kind: str) -> dict[str, Any]:
        return self.data[kind]["done"]

    def jobs(self, kind: str) -> dict[str, Any]:
        return self.data[kind]["jobs"]

    def batches(self, kind: str) -> list[tuple[int, int]] | None:
        """The [start, end) row ranges apply cut, or None if apply never got to ``kind``."""
        cut = self.data[kind].get("batches")
        return None if cut is None else [(int(s), int(e)) for s, e in cut]

    def set_batches(self, kind: str, batches: list[tuple[int, int]]) -> None:
        self.data[kind]["batches"] = [list(b) for b in batches]

    def save(self, *, force: bool = False) -> None:
        if force or time.monotonic() - self.saved_at >= CHECKPOINT_EVERY_SECONDS:
            self.runtime.store.write_json(self.name, self.data)
            self.saved_at = time.monotonic()


async def _run_batch(
    destination: Destination,
    runtime: Runtime,
    checkpoint: Checkpoint,
    kind: str,
    index: int,
    contacts: list[Contact],
    encoded: list[bytes],
) -> None:
    key = str(index)
    expected = RowOutcome.UPSERTED if kind == "upserts" else RowOutcome.REMOVED
    send, send_encoded = contacts, encoded
    withheld: dict[str, list[str]] = {}
    if kind == "upserts":
        send, send_encoded, withheld = suppressions.withhold(contacts, encoded, destination.suppressed)
    if not send:
        checkpoint.done(kind)[key] = summarise([], contacts, expected, destination, withheld)
        checkpoint.save()
        return

    async def call() -> BatchResult:
        if kind == "upserts":
            return await destination.upsert(send, send_encoded)
        return await destination.remove(send)

    try:
        result = await with_retries(call, retry_policy(runtime))
    except RetryableDestinationError as exc:
        reason = destination.scrub(f"gave up after retries: {exc}")
        checkpoint.done(kind)[key] = whole_batch(RowOutcome.FAILED, reason, len(contacts))
    except RequestRejected as exc:
        checkpoint.done(kind)[key] = whole_batch(RowOutcome.REJECTED, destination.scrub(str(exc)), len(contacts))
    else:
        if result.job is not None:
            checkpoint.jobs(kind)[key] = {**result.job, SUBMITTED: time.time(), WITHHELD: withheld}
        else:
            checkpoint.done(kind)[key] = summarise(result.results, contacts, expected, destination, withheld)
    checkpoint.save()


async def apply_partition(
    runtime: Runtime, root: str, partition: int, *, removals: bool, deadline: float | None = None
) -> ApplyResult:
    """Send the partition's upserts (and, when ``removals``, its removals). Resumes from the checkpoint.

    ``deadline`` (``time.monotonic()``) bounds the activity: no batch starts after it; the batches in
    flight finish, the checkpoint records them, and the result says ``more`` so the orchestrator calls
    again for the rest — however large the partition and however slow the vendor's rate limit.

    Raises CredentialRefused / TargetNotFound (the run fails at once); vendor failures of single
    batches become per-row outcomes instead.
    """
    import asyncio
    import time

    plan = load_plan(runtime, root)
    checkpoint = Checkpoint(runtime, plan, partition)
    result = ApplyResult(partition=partition)
    async with open_destination(runtime, plan, share=1.0 / plan.width) as destination:
        limits = type(destination).limits
        await with_retries(destination.prepare, retry_policy(runtime))
        suppressions.hand_over(runtime, plan, destination)
        slots = asyncio.Semaphore(runtime.settings.batch_concurrency)
        sent: list[int] = []  # batches this call started
        began = time.monotonic()
        for kind in KINDS:
            if kind == "removals" and not removals:
                continue
            rows = read_rows(runtime, plan, partition, kind)
            contacts = [row.contact for row in rows]
            encoded = [destination.encode_contact(c) for c in contacts] if kind == "upserts" else []
            sizes = [len(e) for e in encoded] if kind == "upserts" else [0] * len(contacts)
            # Cut once and remember the cut: poll and finish must see exactly these batches.
            batches = checkpoint.batches(kind) or cut_batches(sizes, limits, kind)
            checkpoint.set_batches(kind, batches)
            result.batches += len(batches)
            done, jobs = checkpoint.done(kind), checkpoint.jobs(kind)

            async def one(kind: str, index: int, batch: list[Contact], batch_encoded: list[bytes]) -> None:
                async with slots:
                    # At least one batch per call, whatever the budget: every unit makes progress.
                    if deadline is not None and sent and time.monotonic() >= deadline:
                        result.more = True
                        return
                    if not sent:
                        result.setup_seconds = round(time.monotonic() - began, 3)
                    sent.append(index)
                    await _run_batch(destination, runtime, checkpoint, kind, index, batch, batch_encoded)

            # Upserts finish before removals start: a contact moving between cases is never removed
            # after it was (re)added in the same run.
            await asyncio.gather(
                *(
                    one(kind, i, contacts[s:e], encoded[s:e] if encoded else [])
                    for i, (s, e) in enumerate(batches)
                    if str(i) not in done and str(i) not in jobs
                )
            )
            result.pending_jobs += len(jobs)
            if result.more:
                break  # removals wait until every upsert of the partition went out
    checkpoint.save(force=True)
    return result


async def _newest_job_running(runtime: Runtime, plan: Plan, destination: Destination) -> tuple[int, float | None]:
    """(pending jobs, retry hint) when the most recently submitted job is still running, else (0, None).

    Vendors work through an account's jobs in order: while the newest one runs, polling the others
    would spend requests from the same (sometimes hourly) budget to learn nothing that changes the
    run. One request per poll round, then one per job once they are done."""
    newest: tuple[float, int, str, str] | None = None
    pending = 0
    for partition in range(plan.partitions):
        checkpoint = Checkpoint(runtime, plan, partition)
        for kind in KINDS:
            for key, job in checkpoint.jobs(kind).items():
                pending += 1
                stamp = float(job.get(SUBMITTED, 0.0))
                if newest is None or stamp > newest[0]:
                    newest = (stamp, partition, kind, key)
    if newest is None:
        return 0, None
    _, partition, kind, key = newest
    checkpoint = Checkpoint(runtime, plan, partition)
    start, end = (checkpoint.batches(kind) or [])[int(key)]
    contacts = read_contacts(runtime, plan, partition, kind)[start:end]
    job = checkpoint.jobs(kind)[key]
    try:
        status = await _poll_one(runtime, destination, job, contacts)
    except RetryableDestinationError as exc:
        return pending, exc.retry_after
    if status.done:
        expected = RowOutcome.UPSERTED if kind == "upserts" else RowOutcome.REMOVED
        checkpoint.done(kind)[key] = summarise(status.results, contacts, expected, destination, job.get(WITHHELD))
        del checkpoint.jobs(kind)[key]
        checkpoint.save(force=True)
        return 0, None
    return pending, status.retry_after


async def _poll_one(
    runtime: Runtime, destination: Destination, job: dict[str, Any], contacts: Sequence[Contact]
) -> JobStatus:
    """Poll one job for the rows that were sent (withheld rows are not the vendor's to answer for).

    A request the vendor refuses outright (4xx other than 401/403/404/429) ends the job: its rows are
    ``failed`` with the vendor's words and sent again at the next run. Raises RetryableDestinationError,
    CredentialRefused."""
    withheld = job.get(WITHHELD) or {}
    sent = [c for c in contacts if c.email not in withheld]
    try:
        return await with_retries(functools.partial(destination.poll, job, sent), retry_policy(runtime))
    except RequestRejected as exc:
        reason = destination.scrub(f"the vendor refused to report on the job: {exc}")
        return JobStatus(done=True, results=[RowResult(c.email, RowOutcome.FAILED, reason) for c in sent])


async def poll_jobs(runtime: Runtime, root: str, *, deadline: float | None = None) -> PollResult:
    """Poll the submitted jobs: first the newest (see ``_newest_job_running``); once it is done, every
    partition's jobs oldest first, stopping per partition at the first one still running. Jobs that
    are done move into the checkpoint's finished batches. No poll starts after ``deadline``
    (``time.monotonic()``): the jobs not reached stay pending and the next round takes them."""
    import asyncio
    import time

    plan = load_plan(runtime, root)
    outcome = PollResult()
    async with open_destination(runtime, plan, share=1.0) as destination:
        pending, hint = await _newest_job_running(runtime, plan, destination)
        if pending:
            return PollResult(pending_jobs=pending, retry_after=hint)

        polled: list[str] = []  # jobs this call polled

        async def poll_partition(partition: int) -> None:
            checkpoint = Checkpoint(runtime, plan, partition)
            for kind in KINDS:
                jobs = checkpoint.jobs(kind)
                if not jobs:
                    continue
                contacts = read_contacts(runtime, plan, partition, kind)
                batches = checkpoint.batches(kind) or []
                expected = RowOutcome.UPSERTED if kind == "upserts" else RowOutcome.REMOVED
                for key in sorted(jobs, key=lambda k: float(jobs[k].get(SUBMITTED, 0.0))):
                    # At least one poll per call, whatever the budget: every round makes progress.
                    if deadline is not None and polled and time.monotonic() >= deadline:
                        break
                    polled.append(key)
                    start, end = batches[int(key)]
                    try:
                        status = await _poll_one(runtime, destination, jobs[key], contacts[start:end])
                    except RetryableDestinationError as exc:
                        outcome.retry_after = max(outcome.retry_after or 0.0, exc.retry_after or 0.0)
                        break
                    if not status.done:
                        if status.retry_after is not None:
                            outcome.retry_after = max(outcome.retry_after or 0.0, status.retry_after)
                        break
                    checkpoint.done(kind)[key] = summarise(
                        status.results, contacts[start:end], expected, destination, jobs[key].get(WITHHELD)
                    )
                    del jobs[key]
                outcome.pending_jobs += len(jobs)
            checkpoint.save(force=True)

        await asyncio.gather(*(poll_partition(k) for k in range(plan.partitions)))
    return outcome
