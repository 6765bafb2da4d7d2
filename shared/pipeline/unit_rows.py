"""What an apply or poll activity reads of its unit: the rows of its batches, a bounded slice at a time.

A unit is a contiguous run of batches, a ``width``-th of the export: at 10M profiles and 10 units, a
million rows. Reading and encoding a whole unit at once would make an activity's memory grow with the
export, so ``UnitInput`` reads and encodes *chunks* of whole batches (about ``CHUNK_ROWS`` rows, at least
one batch) as the batches are sent, and drops a chunk once its batches have taken their rows.
``UnitRows`` keeps the last few partitions' diff tables it read, not every one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import pyarrow as pa

from destinations.base import ContactBatch, Destination
from shared.overlap import LazyPool
from shared.pipeline import records
from shared.pipeline.cut import BatchCut
from shared.pipeline.diff import read_diff
from shared.pipeline.encode import contacts, email_contacts, encode_changes
from shared.pipeline.plan import Plan
from shared.runtime import Runtime

# Rows read and encoded at once: large enough that encoding costs per row, not per call (an Omnisend
# batch holds tens of rows), small enough to be a few megabytes whatever the export's size.
CHUNK_ROWS = 65_536
# Partition tables kept: a chunk spans at most a few, and the batches in flight sit in the last ones.
KEPT_PARTITIONS = 3

# Units of one worker process read and encode their rows one per core at a time: started together, each
# would get a slice of the CPU and all would be ready late, at once; taking turns, the first unit sends
# while the others still prepare.
PREPARING = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))

# Threads for ``UnitInput.prepare``, not the event loop's default executor. A batch's call waits in its
# thread — for the chunk another call is reading, or for ``PREPARING`` — and the default executor has
# cores + 4 threads: ten units' forty such calls filled it, and every other ``asyncio.to_thread`` of the
# activities sharing the loop (the suppression check before a batch is sent, checkpoint saves) queued
# behind them. Units whose first batch was ready then sent together once the reading was over: in a 1M
# SendGrid export, nine units' first requests left within 10 ms of each other, 0.5 s after the first
# unit's, and the ten bodies that reached the vendor at once drew 429s a second later. A waiting call
# never starves a reader: a batch only waits for a chunk whose reader is already running.
PREPARE_THREADS = 16
_PREPARERS = LazyPool(PREPARE_THREADS, "unit-rows")


class UnitRows:
    """The change rows (or removal entries) of a run's sequence, read per partition; the last ``keep``
    partitions read are kept for the next request (every one with ``keep`` None). Thread-safe."""

    def __init__(self, runtime: Runtime, plan: Plan, cut: BatchCut, *, keep: int | None = KEPT_PARTITIONS) -> None:
        self.runtime, self.plan, self.cut = runtime, plan, cut
        self.keep = keep
        self._tables: OrderedDict[tuple[str, int], pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def table(self, kind: str, partition: int) -> pa.Table:
        key = (kind, partition)
        with self._lock:
            found = self._tables.get(key)
            if found is not None:
                self._tables.move_to_end(key)
                return found
        table = read_diff(self.runtime.store, self.plan, partition, kind)
        with self._lock:
            self._tables[key] = table
            while self.keep is not None and len(self._tables) > self.keep:
                self._tables.popitem(last=False)
        return table

    def rows(self, kind: str, start: int, end: int) -> pa.Table:
        """Rows [start, end) of the run's sequence of ``kind``."""
        pieces = [self.table(kind, k).slice(low, high - low) for k, low, high in self.cut.pieces(kind, start, end)]
        if pieces:
            return pa.concat_tables(pieces)
        attributes = self.plan.export.attributes()
        return records.empty(records.change_schema(attributes) if kind == "changes" else records.SNAPSHOT_SCHEMA)

    def emails(self, kind: str, batch: int) -> ContactBatch:
        start, end = self.cut.rows_of(kind, batch)
        return email_contacts(self.rows(kind, start, end).column(records.EMAIL).to_pylist())


@dataclass(slots=True)
class _Chunk:
    start: int  # first row (in the run's sequence)
    end: int  # one past its last row
    table: pa.Table | None = None
    encoded: pa.Array | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class UnitInput:
    """Each batch's contacts and encoded bodies for the batches ``todo`` of one unit, read and encoded a
    chunk of consecutive batches at a time. ``batch`` may be called from several threads: the first to
    need a chunk reads it (outside the lock), the others wait for it."""

    def __init__(
        self, runtime: Runtime, plan: Plan, cut: BatchCut, destination: Destination, kind: str, todo: list[int]
    ) -> None:
        self.rows = UnitRows(runtime, plan, cut)
        self.cut, self.destination, self.kind = cut, destination, kind
        self.attributes = plan.export.attributes()
        self.todo = sorted(todo)
        self._chunks: dict[int, _Chunk] = {}  # batch → the chunk holding its rows, until it took them
        self._unread = set(self.todo)  # batches no chunk holds yet
        self._lock = threading.Lock()

    def batch(self, index: int) -> tuple[ContactBatch, list[bytes]]:
        """Batch ``index``'s contacts (with attributes for changes; email and vendor id for removals) and
        its encoded bodies (none for removals). Each batch takes its rows once."""
        with self._lock:
            chunk = self._chunks.get(index)
            reader = chunk is None
            if chunk is None:
                chunk = self._plan_chunk(index)
        if reader:
            self._read(chunk)
        chunk.ready.wait()
        with self._lock:
            self._chunks.pop(index, None)  # the chunk is freed when its last batch has taken its rows
        if chunk.error is not None:
            raise chunk.error
        assert chunk.table is not None  # nosec B101  # set before ``ready`` unless ``error`` is
        start, end = self.cut.rows_of(self.kind, index)
        table = chunk.table.slice(start - chunk.start, end - start)
        batch = contacts(table, self.attributes, with_attributes=self.kind == "changes")
        bodies = chunk.encoded.slice(start - chunk.start, end - start).to_pylist() if chunk.encoded is not None else []
        return batch, bodies

    async def prepare(self, index: int) -> tuple[ContactBatch, list[bytes]]:
        """``batch(index)`` in a thread of the unit readers' own pool (see ``PREPARE_THREADS``)."""
        return await asyncio.get_running_loop().run_in_executor(_PREPARERS.get(), self.batch, index)

    def _plan_chunk(self, index: int) -> _Chunk:
        """The chunk of the batches from ``index`` on, up to ``CHUNK_ROWS`` rows (at least ``index``),
        registered for each of them. Called with the lock held."""
        at = self.todo.index(index)
        start = self.cut.rows_of(self.kind, index)[0]
        chosen = [index]
        for later in self.todo[at + 1 :]:
            if later not in self._unread or later != chosen[-1] + 1:
                break
            if self.cut.rows_of(self.kind, later)[1] - start > CHUNK_ROWS:
                break
            chosen.append(later)
        chunk = _Chunk(start, self.cut.rows_of(self.kind, chosen[-1])[1])
        for batch in chosen:
            self._chunks[batch] = chunk
            self._unread.discard(batch)
        return chunk

    def _read(self, chunk: _Chunk) -> None:
        try:
            with PREPARING:
                chunk.table = self.rows.rows(self.kind, chunk.start, chunk.end)
                if self.kind == "changes":
                    chunk.encoded = encode_changes(self.destination, chunk.table, self.attributes)
        except BaseException as exc:  # every batch of the chunk raises it; a retried activity reads again
            chunk.error = exc
        finally:
            chunk.ready.set()

    def emails(self, batch: int) -> ContactBatch:
        """Email-only contacts of a batch (what a poll maps the vendor's answer onto)."""
        return self.rows.emails(self.kind, batch)
