"""The snapshot: what the vendor list holds for each email, as far as this product knows.

One Parquet piece per partition (``records.SNAPSHOT_SCHEMA``), written by finish; the export's manifest
(``snapshots/{export}/current.json``) points at the run whose pieces are current. A run reads the pieces
that may hold its partition's emails (``layout.snapshot_sources``) and keeps only those rows.

Snapshots written by the text pipeline (manifest ``format`` 1: ``email \\x1f digest \\x1f flags \\x1f
vendor id`` lines) are still read: their suppression flags and vendor ids are kept — a contact the
vendor refused is never sent again — while their digests, of another algorithm, match nothing, so the
first run after the upgrade sends every profile once more.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shared.pipeline import records
from shared.pipeline.layout import RunPaths, snapshot_sources
from shared.pipeline.plan import Plan
from shared.runtime import Runtime

FORMAT = 2  # the manifest's ``format``: 1 = text pieces, 2 = Parquet pieces
_LEGACY_SEPARATOR = "\x1f"


def read_snapshot(runtime: Runtime, plan: Plan, partition: int) -> pa.Table:
    """The last committed snapshot's entries for ``partition`` (``records.SNAPSHOT_SCHEMA``)."""
    snapshot = plan.snapshot
    if snapshot is None:
        return records.empty(records.SNAPSHOT_SCHEMA)
    old_paths = RunPaths.from_root(snapshot.root)
    tables = []
    for piece in snapshot_sources(partition, plan.partitions, snapshot.partitions):
        if snapshot.format >= FORMAT:
            data = runtime.store.read_bytes_or_none(old_paths.snapshot_piece(piece))
            if data:
                tables.append(pq.read_table(io.BytesIO(data)).cast(records.SNAPSHOT_SCHEMA))
        else:
            data = runtime.store.read_bytes_or_none(old_paths.legacy_snapshot_piece(piece))
            if data:
                tables.append(_legacy(data))
    if not tables:
        return records.empty(records.SNAPSHOT_SCHEMA)
    table = pa.concat_tables(tables)
    if snapshot.partitions != plan.partitions:
        mine = records.partitions_of(table.column(records.KEY).to_numpy(), plan.partitions) == partition
        table = table.filter(pa.array(mine))
    return table


def _legacy(data: bytes) -> pa.Table:
    emails, flags, vendor_ids = [], [], []
    for line in data.decode().splitlines():
        email, _digest, flag, vendor_id = line.split(_LEGACY_SEPARATOR)
        emails.append(email)
        flags.append("S" in flag)
        vendor_ids.append(vendor_id)
    email_array = pa.array(emails, pa.string())
    return pa.Table.from_arrays(
        [
            email_array,
            records.email_keys(email_array),
            pa.array(np.zeros(len(emails), dtype=np.uint64)),  # matches no attribute hash: sent again
            pa.array(flags, pa.bool_()),
            pa.array(vendor_ids, pa.string()),
        ],
        schema=records.SNAPSHOT_SCHEMA,
    )


def write_piece(runtime: Runtime, plan: Plan, partition: int, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table.cast(records.SNAPSHOT_SCHEMA), sink, compression="zstd")
    runtime.store.write_bytes(plan.paths.snapshot_piece(partition), sink.getvalue())


def active(table: pa.Table) -> int:
    """Entries the vendor list holds as members (not refused)."""
    return table.num_rows - int(pc.sum(table.column(records.SUPPRESSED).cast(pa.int64())).as_py() or 0)
