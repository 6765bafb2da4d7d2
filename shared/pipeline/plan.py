"""Step 1 — plan: load the export and its connection, list the segment files, size the run.

The plan is written once to ``runs/{export}/{run}/plan.json``; every later activity reads it, so a
run uses one consistent configuration even if someone edits the export while it runs, and only the
run's blob prefix travels through orchestration history.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime

from pydantic import BaseModel

from destinations import destination_class
from shared.config_store import ConfigStore
from shared.errors import ConfigurationError, SegmentFormatError
from shared.models import Connection, Export, RunRequest, SyncMode
from shared.pipeline.layout import RunPaths, snapshot_manifest
from shared.runtime import Runtime
from shared.segments import SourcePart, discover_parts

# Rough bytes per profile by format, to size partitions before reading anything.
BYTES_PER_ROW = {"csv": 64, "cdm_csv": 64, "jsonl": 128, "csv.gz": 24, "jsonl.gz": 32, "parquet": 16}


class SnapshotInfo(BaseModel):
    root: str  # run prefix holding the pieces
    partitions: int
    profiles: int  # unique valid profiles in the segments at that run
    size: int  # contacts we know to be in the vendor list
    target: str
    fingerprint: str
    started_at: datetime | None = None  # when that run started: vendor changes since then are new
    format: int = 1  # of its pieces: 1 text (older manifests say nothing), 2 Parquet (shared.pipeline.snapshot)


class PartRef(BaseModel):
    index: int
    segment: str
    blob: str
    format: str
    columns: tuple[str, ...] | None = None
    delimiter: str = ","
    has_header: bool = True
    size: int = 0
    problem: str | None = None  # discovery already knows this part cannot be read (it is held back)
    problem_line: int | None = None

    def source(self) -> SourcePart:
        return SourcePart(
            segment=self.segment,
            blob=self.blob,
            format=self.format,
            columns=self.columns,
            delimiter=self.delimiter,
            has_header=self.has_header,
            problem=self.problem,
            problem_line=self.problem_line,
        )


class Plan(BaseModel):
    root: str
    instance_id: str
    started_at: datetime
    export: Export
    connection: Connection
    request: RunRequest
    parts: list[PartRef]
    partitions: int
    width: int
    snapshot: SnapshotInfo | None
    full_resync: bool
    mirror: bool
    mass_removal_share: float

    @property
    def paths(self) -> RunPaths:
        return RunPaths.from_root(self.root)


def _power_of_two(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, n))))


def make_plan(runtime: Runtime, request: RunRequest, *, run_id: str, instance_id: str, started_at: datetime) -> Plan:
    """Build and store the plan. Raises NotFound, ConfigurationError, SegmentFormatError."""
    configs = ConfigStore(runtime.store)
    export, _ = configs.get_export(request.export_id)
    connection, _ = configs.get_connection(export.connection_id)
    settings = runtime.settings

    parts: list[PartRef] = []
    for segment in export.segments:
        prefix = segment.rstrip("/") + "/"
        sizes = runtime.segments.list_sizes(prefix)
        if not sizes:
            raise SegmentFormatError("the segment folder is empty or does not exist", blob=prefix)
        for part in discover_parts(segment, sorted(sizes), lambda name: runtime.segments.read_bytes(name).decode()):
            parts.append(
                PartRef(
                    index=len(parts),
                    segment=part.segment,
                    blob=part.blob,
                    format=part.format,
                    columns=part.columns,
                    delimiter=part.delimiter,
                    has_header=part.has_header,
                    size=sizes.get(part.blob, 0) if part.problem is None else 0,
                    problem=part.problem,
                    problem_line=part.problem_line,
                )
            )

    estimated_rows = sum(p.size // BYTES_PER_ROW.get(p.format, 64) for p in parts)
    partitions = min(settings.max_partitions, _power_of_two(math.ceil(estimated_rows / settings.rows_per_partition)))

    limits = destination_class(connection.vendor).limits
    # Apply units, not partitions, go out in parallel (batches are cut across partitions): the width is
    # the vendor's concurrency, bounded by the fan-out an activity budget allows.
    width = settings.max_activity_width
    if limits.max_concurrency is not None:
        width = min(width, limits.max_concurrency)
    # Nor more units than a rate window's requests: each unit then has at least one request of every
    # window to itself, so units that fall behind (busy encoding) and catch up together still keep the
    # vendor's rate. With more units than that, each would get one request per longer window, and a few
    # such catching up at once are more than the vendor's window allows (answered 429).
    smallest = min((limit.requests for bucket in limits.rate_limits.values() for limit in bucket), default=None)
    if smallest is not None:
        width = min(width, smallest)

    snapshot = None
    document = runtime.store.read_json_or_none(snapshot_manifest(export.id))
    if document is not None:
        snapshot = SnapshotInfo.model_validate(document)
        if snapshot.target != export.target_key():
            snapshot = None  # another list: nothing in it is known to be in the new one
    full_resync = request.full_resync or snapshot is None or snapshot.fingerprint != export.fingerprint()

    if export.sync_mode is SyncMode.MIRROR:
        adapter_policies = destination_class(connection.vendor).removal_policies
        if export.removal_policy not in adapter_policies:
            allowed = ", ".join(sorted(p.value for p in adapter_policies))
            raise ConfigurationError(
                f"removal policy {export.removal_policy.value!r} is not available for {connection.vendor}; "
                f"choose one of {allowed}",
                field="removal_policy",
            )

    paths = RunPaths(export.id, run_id)
    plan = Plan(
        root=paths.root,
        instance_id=instance_id,
        started_at=started_at,
        export=export,
        connection=connection,
        request=request,
        parts=parts,
        partitions=partitions,
        width=max(1, width),
        snapshot=snapshot,
        full_resync=full_resync,
        mirror=export.sync_mode is SyncMode.MIRROR,
        mass_removal_share=export.mass_removal_share or settings.mass_removal_share,
    )
    runtime.store.write_json(paths.plan, plan.model_dump(mode="json"))
    return plan


@functools.lru_cache(maxsize=64)
def _cached_plan(store_id: int, root: str, raw: bytes) -> Plan:
    return Plan.model_validate_json(raw)


def load_plan(runtime: Runtime, root: str) -> Plan:
    """The stored plan of a run. Raises NotFound."""
    raw = runtime.store.read_bytes(RunPaths.from_root(root).plan)
    return _cached_plan(id(runtime.store), root, raw)
