"""Step 4b — cut the run's changes into vendor batches, across partitions, and the batches into apply units.

Partitions exist to spread diffing; a vendor batch has no reason to stop at a partition's end. So the
changes of all partitions are taken as one sequence (partition 0's rows, then partition 1's, …) and cut
greedily to the vendor's item and body-size limits: the fewest requests the export needs. Batches are
then grouped into at most ``width`` contiguous *units*, one apply activity each.

The cut is stored once (``apply/batches.json``) and never recomputed: a retried or replayed activity,
poll and finish all see the same batches. Only numbers are stored — where each partition's rows start
in the sequence and where each batch starts — so the cut of a million rows is a few kilobytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from destinations.base import Destination, VendorLimits
from shared.overlap import in_order
from shared.pipeline import records
from shared.pipeline.diff import read_diff
from shared.pipeline.encode import encode_changes
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.vendor import make_ready, open_destination
from shared.runtime import Runtime

KINDS = ("changes", "removals")
Sizes = tuple[np.ndarray, bool]  # each row's size (or an upper bound of it), and whether it is exact


class Unit(BaseModel):
    kind: str
    first: int  # first batch
    end: int  # one past the last batch


class BatchCut(BaseModel):
    """``offsets[kind][k]``: where partition k's rows start in the run's sequence (one more entry: the
    total); ``bounds[kind][b]``: where batch b starts (one more entry: the total)."""

    offsets: dict[str, list[int]]
    bounds: dict[str, list[int]]
    units: list[Unit]

    def batches(self, kind: str) -> int:
        return len(self.bounds[kind]) - 1

    def rows_of(self, kind: str, batch: int) -> tuple[int, int]:
        bounds = self.bounds[kind]
        return bounds[batch], bounds[batch + 1]

    def pieces(self, kind: str, start: int, end: int) -> list[tuple[int, int, int]]:
        """(partition, first row, end row) within each partition, covering rows [start, end) of the sequence."""
        offsets = self.offsets[kind]
        found = []
        for k in range(len(offsets) - 1):
            low, high = max(start, offsets[k]), min(end, offsets[k + 1])
            if low < high:
                found.append((k, low - offsets[k], high - offsets[k]))
        return found

    def unit_of(self, kind: str, batch: int) -> int:
        for index, unit in enumerate(self.units):
            if unit.kind == kind and unit.first <= batch < unit.end:
                return index
        raise KeyError(f"no unit holds {kind} batch {batch}")

    def batches_of_partition(self, kind: str, partition: int) -> list[int]:
        offsets, bounds = self.offsets[kind], np.asarray(self.bounds[kind])
        start, end = offsets[partition], offsets[partition + 1]
        if start == end:
            return []
        first = int(np.searchsorted(bounds, start, side="right")) - 1
        last = int(np.searchsorted(bounds, end, side="left"))
        return list(range(first, last))


def cut_bounds(sizes: np.ndarray, limits: VendorLimits, kind: str) -> list[int]:
    """Greedy cut: a batch takes rows while it is within the item limit and (changes) the body limit
    (each row's encoding plus its separator); every batch holds at least one row."""
    n = len(sizes)
    max_items = limits.upsert_batch_items if kind == "changes" else limits.remove_batch_items
    max_bytes = (limits.upsert_batch_bytes or 0) - limits.envelope_bytes if kind == "changes" else 0
    if max_bytes <= 0:
        return _by_items(n, max_items)
    cumulative = np.cumsum(np.asarray(sizes, dtype=np.int64) + 1)
    bounds, start = [0], 0
    while start < n:
        base = int(cumulative[start - 1]) if start else 0
        by_bytes = int(np.searchsorted(cumulative, base + max_bytes, side="right"))
        end = max(start + 1, min(start + max_items, by_bytes, n))
        bounds.append(end)
        start = end
    return bounds


def change_sizes(destination: Destination, changes: pa.Table, attributes: Sequence[str], *, exact: bool) -> Sizes:
    """Each change row's encoded size (``exact``) or, where the adapter knows one, an upper bound of it
    computed without encoding; the flag says which it is. Zeros for a vendor without a body limit."""
    if not changes.num_rows or not type(destination).limits.upsert_batch_bytes:
        # Without a body limit the cut counts items only: the sizes are never looked at.
        return np.zeros(changes.num_rows, dtype=np.int64), True
    if not exact:
        columns = {name: changes.column(records.attribute_column(name)).combine_chunks() for name in attributes}
        bounds = destination.size_bounds(changes.column(records.EMAIL).combine_chunks(), columns)
        if bounds is not None:
            return np.asarray(bounds.to_numpy(zero_copy_only=False), dtype=np.int64), False
    encoded = encode_changes(destination, changes, attributes)
    return np.asarray(pc.binary_length(encoded).to_numpy(zero_copy_only=False), dtype=np.int64), True


def cut_changes(sizes: Callable[[bool], list[Sizes]], limits: VendorLimits) -> tuple[list[int], list[int]]:
    """(rows per partition, batch bounds) of the changes, ``sizes(exact)`` giving each partition's.

    Bounds first: when the greedy cut over them is the cut by the item limit alone, the body limit never
    binds, so the exact sizes (each at most its bound) give the same cut and no row is encoded to cut it.
    Otherwise the rows are measured exactly and cut again."""
    found = sizes(False)
    counts = [len(s) for s, _ in found]
    total = sum(counts)
    bounds = cut_bounds(_joined(found), limits, "changes")
    if all(exact for _, exact in found) or bounds == _by_items(total, limits.upsert_batch_items):
        return counts, bounds
    return counts, cut_bounds(_joined(sizes(True)), limits, "changes")


def _by_items(rows: int, max_items: int) -> list[int]:
    """The bounds of ``rows`` cut by the item limit alone."""
    return [*range(0, rows, max_items), rows] if rows else [0]


def _joined(sizes: list[Sizes]) -> np.ndarray:
    return np.concatenate([s for s, _ in sizes]) if sizes else np.zeros(0, dtype=np.int64)


def split_units(cut_bounds_by_kind: dict[str, list[int]], width: int) -> list[Unit]:
    """At most ``width`` contiguous units per kind, changes before removals."""
    units = []
    for kind in KINDS:
        batches = len(cut_bounds_by_kind[kind]) - 1
        count = min(width, batches)
        for i in range(count):
            units.append(Unit(kind=kind, first=i * batches // count, end=(i + 1) * batches // count))
    return units


def _offsets(counts: Sequence[int]) -> list[int]:
    return [0, *np.cumsum(np.asarray(counts, dtype=np.int64)).tolist()]


async def cut_run(runtime: Runtime, root: str) -> BatchCut:
    """Cut the run's batches and units (idempotent: an existing cut is returned as it is)."""
    plan = load_plan(runtime, root)
    existing = runtime.store.read_json_or_none(plan.paths.batches)
    if existing is not None:
        return BatchCut.model_validate(existing)
    async with open_destination(runtime, plan) as destination:
        await make_ready(runtime, plan, destination)
        limits = type(destination).limits
        attributes = plan.export.attributes()

        def sizes_of(exact: bool) -> list[Sizes]:
            def one(partition: int) -> Sizes:
                changes = read_diff(runtime.store, plan, partition, "changes")
                return change_sizes(destination, changes, attributes, exact=exact)

            # The only step of a run that reads every change in one activity: partitions are read (and
            # measured) a few at a time in threads (Arrow's kernels leave the GIL), in order, so a worker
            # with several cores cuts sooner. Encoding is a pure function of the rows and ``prepare()``'s state.
            return list(in_order(one, range(plan.partitions)))

        def cut_all() -> tuple[list[int], list[int], list[int]]:
            # Each diff's counts say how many changes and removals it wrote (its change rows are exactly the
            # adds and updates it counted); the rows themselves are read only when their sizes matter.
            results = runtime.store.read_documents([plan.paths.diff_file(k, "json") for k in range(plan.partitions)])
            removals = [int(r["to_remove"]) if plan.mirror else 0 for r in results]
            if limits.upsert_batch_bytes:
                counts, change_bounds = cut_changes(sizes_of, limits)
            else:
                counts = [int(r["to_add"]) + int(r["to_update"]) for r in results]
                change_bounds = cut_bounds(np.zeros(sum(counts), dtype=np.int64), limits, "changes")
            return counts, change_bounds, removals

        counts, change_bounds, removal_counts = await asyncio.to_thread(cut_all)
    bounds = {
        "changes": change_bounds,
        "removals": cut_bounds(np.zeros(sum(removal_counts), dtype=np.int64), limits, "removals"),
    }
    cut = BatchCut(
        offsets={"changes": _offsets(counts), "removals": _offsets(removal_counts)},
        bounds=bounds,
        units=split_units(bounds, plan.width),
    )
    runtime.store.write_json(plan.paths.batches, cut.model_dump())
    return cut


def load_cut(runtime: Runtime, plan: Plan) -> BatchCut | None:
    document = runtime.store.read_json_or_none(plan.paths.batches)
    return None if document is None else BatchCut.model_validate(document)
