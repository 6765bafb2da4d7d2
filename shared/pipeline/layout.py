"""Blob names of one run, in one place, and how profiles are spread over partitions.

What the blobs hold is defined in ``shared.pipeline.records`` (Arrow schemas): staging and diff files are
Arrow IPC streams, snapshot pieces Parquet.
"""

from __future__ import annotations

import zlib


def partition_of(email: str, partitions: int) -> int:
    """Stable across processes and runs (``hash()`` is not): same email ⇒ same partition.

    ``partitions`` is a power of two, so a snapshot written with P partitions can be read by a run
    with any other power of two (see ``snapshot_sources``).
    """
    return zlib.crc32(email.encode()) & (partitions - 1)


def snapshot_sources(partition: int, partitions: int, snapshot_partitions: int) -> list[int]:
    """Snapshot pieces that may hold emails of ``partition`` (both counts powers of two)."""
    if snapshot_partitions <= partitions:
        return [partition & (snapshot_partitions - 1)]
    return list(range(partition, snapshot_partitions, partitions))


class RunPaths:
    """Blob names under ``runs/{export}/{run}/``."""

    def __init__(self, export_id: str, run_id: str) -> None:
        self.export_id = export_id
        self.run_id = run_id
        self.root = f"runs/{export_id}/{run_id}"

    @classmethod
    def from_root(cls, root: str) -> RunPaths:
        _, export_id, run_id = root.split("/", 2)
        return cls(export_id, run_id)

    @property
    def plan(self) -> str:
        return f"{self.root}/plan.json"

    def stage_piece(self, part: int) -> str:
        """One source file's valid rows, grouped by partition (ranges in its stage result)."""
        return f"{self.root}/stage/s{part:05d}.arrows"

    @property
    def stage_pieces_prefix(self) -> str:
        return f"{self.root}/stage/s"

    @property
    def stage_results_prefix(self) -> str:
        return f"{self.root}/stage/results/"

    def stage_result(self, part: int) -> str:
        return f"{self.root}/stage/results/s{part:05d}.json"

    def rejected_piece(self, name: str) -> str:
        return f"{self.root}/rejected/{name}.csv"

    @property
    def rejected_prefix(self) -> str:
        return f"{self.root}/rejected/"

    def diff_file(self, partition: int, kind: str) -> str:
        """``changes``, ``removals``, ``carry`` (Arrow IPC) or ``json`` (the diff's counts)."""
        return f"{self.root}/diff/p{partition:03d}.{kind}"

    @property
    def batches(self) -> str:
        """How the run's changes are cut into vendor batches and the batches into apply units."""
        return f"{self.root}/apply/batches.json"

    def checkpoint(self, unit: int) -> str:
        return f"{self.root}/apply/u{unit:04d}.json"

    @property
    def checkpoints_prefix(self) -> str:
        return f"{self.root}/apply/u"

    @property
    def prepared(self) -> str:
        """What the adapter's ``prepare()`` learned in pre-flight, handed to every activity of the run."""
        return f"{self.root}/prepared.json"

    def result(self, partition: int) -> str:
        return f"{self.root}/result/p{partition:03d}.json"

    def snapshot_piece(self, partition: int) -> str:
        return f"{self.root}/snapshot/p{partition:03d}.parquet"

    def legacy_snapshot_piece(self, partition: int) -> str:
        """Snapshots of the text pipeline (format 1): ``email, digest, flags, vendor id`` per line."""
        return f"{self.root}/snapshot/p{partition:03d}.tsv"

    @property
    def suppressed(self) -> str:
        """Addresses the vendor suppresses, read once in pre-flight for every activity of the run."""
        return f"{self.root}/suppressed.json"

    @property
    def report(self) -> str:
        return f"{self.root}/report.json"

    @property
    def rejected_rows(self) -> str:
        return f"{self.root}/rejected-rows.csv"


def snapshot_manifest(export_id: str) -> str:
    return f"snapshots/{export_id}/current.json"
