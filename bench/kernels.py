"""The client side's own work with storage taken out: what this implementation costs on this machine
before a single blob is written or read — the floor under ``bench.client``'s figures.

The run's source files and its last snapshot are read into memory first (not timed). Then, timed, on one
core, the same pure steps the activities run, in the same order and on the same batches:
- **stage**: ``read_batches`` over each file's bytes, ``clean_batch``, and the staging's grouping by
  partition (``stage.by_partition``, every ``FLUSH_ROWS`` rows as ``PartitionWriter`` groups them);
- **diff**: each partition's staged rows, in part order, through ``compare`` against its snapshot entries;
- **serialise**: the changes measured and cut into SendGrid's batches across partitions (``change_sizes``,
  ``cut_changes``), then ``bench.client.serialise`` as the client side runs it: each apply unit's
  ``UnitInput`` reading and encoding a chunk of batches at a time — its rows reader given the changes from
  memory (``_InMemory``) — and each batch checked and joined into a request body.

Left out, as storage: Arrow IPC (compressing and decoding the staging and diff files), every request to
blob storage, the step documents. Left out as well: the rejected-rows text (about 70,000 rows at 1M). What
``bench.client`` measures beyond these figures is the price of moving rows between the steps through blob
storage, as activities on different instances must.

    python -m bench.client --kernels --connection-string ... --container ... --segments ... --root ...
"""

from __future__ import annotations

import io
import time

import pyarrow as pa

from bench.client import _cpu_seconds, _runtime, bench_adapter, changes_cut, figures, serialise
from shared.pipeline import records
from shared.pipeline.clean import clean_batch
from shared.pipeline.cut import BatchCut, change_sizes
from shared.pipeline.diff import compare
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.snapshot import read_snapshot
from shared.pipeline.stage import FLUSH_ROWS, by_partition
from shared.pipeline.unit_rows import UnitInput, UnitRows
from shared.runtime import Runtime
from shared.segments.batches import read_batches


def _stage(plan: Plan, index: int, raw: bytes, staged: list[list[pa.Table]]) -> int:
    """One source file's rows, cleaned and grouped by partition into ``staged``; the rows read."""
    part = plan.parts[index]
    attributes = plan.export.attributes()
    read = 0
    pending: list[pa.Table] = []
    rows = 0

    def flush() -> None:
        nonlocal pending, rows
        if rows:
            for k, group in by_partition(pa.concat_tables(pending), plan.partitions):
                staged[k].append(group)
        pending, rows = [], 0

    for batch in read_batches(part.source(), io.BytesIO(raw), plan.export.columns()):
        read += len(batch.lines) + len(batch.errors)
        if len(batch.lines):
            table = clean_batch(batch.lines, batch.columns, attributes, index).staged
            pending.append(table)
            rows += table.num_rows
            if rows >= FLUSH_ROWS:
                flush()
    flush()
    return read


def measure_kernels(runtime: Runtime, root: str) -> dict[str, float]:
    plan = load_plan(runtime, root)
    attributes = plan.export.attributes()
    files = [runtime.segments.read_bytes(part.blob) for part in plan.parts]
    snapshot = [read_snapshot(runtime, plan, k) for k in range(plan.partitions)]

    cpu = _cpu_seconds()
    started = time.perf_counter()
    staged: list[list[pa.Table]] = [[] for _ in range(plan.partitions)]
    read = sum(_stage(plan, i, raw, staged) for i, raw in enumerate(files))
    stage_done = time.perf_counter()
    changes = [
        compare(
            pa.concat_tables(staged[k]) if staged[k] else _empty_staged(plan),
            snapshot[k],
            attributes=attributes,
            full=plan.full_resync,
            mirror=plan.mirror,
        ).changes
        for k in range(plan.partitions)
    ]
    diff_done = time.perf_counter()
    adapter = bench_adapter(plan)
    cut = changes_cut(lambda exact: [change_sizes(adapter, table, attributes, exact=exact) for table in changes], plan)

    def unit_input(todo: list[int]) -> UnitInput:
        unit = UnitInput(runtime, plan, cut, adapter, "changes", todo)
        unit.rows = _InMemory(runtime, plan, cut, changes)
        return unit

    sent, payload_bytes = serialise(adapter, cut, unit_input)
    steps = (started, stage_done, diff_done, time.perf_counter())
    return figures(read, steps, _cpu_seconds() - cpu, sent, cut.batches("changes"), payload_bytes)


class _InMemory(UnitRows):
    """Apply's reader of the diff's changes, finding each partition's table in memory, not in storage."""

    def __init__(self, runtime: Runtime, plan: Plan, cut: BatchCut, changes: list[pa.Table]) -> None:
        super().__init__(runtime, plan, cut, keep=None)
        self._changes = changes

    def table(self, kind: str, partition: int) -> pa.Table:
        return self._changes[partition]


def _empty_staged(plan: Plan) -> pa.Table:
    return records.empty(records.staged_schema(plan.export.attributes()))


def main_kernels(connection_string: str, container: str, segments: str, root: str) -> dict[str, float]:
    return measure_kernels(_runtime(connection_string, container, segments), root)
