"""Rows per second of the per-row readers (``read_part``) against ``read_batches``, on the demo's data.

    .venv/bin/python -m bench.readers [--rows 500000]

The input is the demo generator's (``devtools/sample_data.py``): CSV, CSV.gz and JSON Lines of the real
shape, plus the same rows as Parquet and as CSV with every value quoted and CRLF line ends. Each figure
is the best of a few runs, reading from memory; rows/s is given per CPU second of this process (what
one core does, less disturbed by other work on the machine) and per wall-clock second.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from devtools.sample_data import COLUMNS, segment_rows, write_csv, write_jsonl
from shared.segments import SourcePart, read_part
from shared.segments.batches import read_batches


class _Memory:
    """The one BlobStore method the writers use."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def write_bytes(self, name: str, data: bytes) -> None:
        self.blobs[name] = data


def _inputs(rows: int) -> dict[str, bytes]:
    store = _Memory()

    def generated() -> object:
        return segment_rows(0, rows, 7, invalid_every=97, duplicate_every=53)

    write_csv(store, "f.csv", generated())  # type: ignore[arg-type]
    write_csv(store, "f.csv.gz", generated(), gzipped=True)  # type: ignore[arg-type]
    write_jsonl(store, "f.jsonl", generated())  # type: ignore[arg-type]
    # Every value quoted, CRLF line ends: what spreadsheet exports write (Arrow still reads it).
    quoted = io.StringIO()
    writer = csv.writer(quoted, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([row[c] for c in COLUMNS] for row in generated())  # type: ignore[attr-defined]
    store.blobs["quoted.csv"] = quoted.getvalue().encode()
    table = pa.Table.from_pylist(list(generated()))  # type: ignore[call-overload]
    sink = io.BytesIO()
    pq.write_table(table, sink)
    store.blobs["f.parquet"] = sink.getvalue()
    return store.blobs


def _best(run: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    """(rows, CPU seconds, wall seconds), each the best of ``repeat`` runs."""
    cpu = wall = float("inf")
    count = 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        count = run()
        cpu = min(cpu, time.process_time() - started_cpu)
        wall = min(wall, time.perf_counter() - started)
    return count, cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    blobs = _inputs(args.rows)
    columns = list(COLUMNS)
    print(f"{'format':<10} {'reader':<13} {'rows':>9} {'cpu s':>7} {'rows/cpu s':>12} {'rows/wall s':>12}")
    for name, data in blobs.items():
        fmt = name.split(".", 1)[1]
        part = SourcePart(segment="s", blob=name, format=fmt)
        fmt = "csv quoted" if name == "quoted.csv" else fmt

        def per_row(part: SourcePart = part, data: bytes = data) -> int:
            return sum(1 for _ in read_part(part, io.BytesIO(data), columns))

        def batched(part: SourcePart = part, data: bytes = data) -> int:
            return sum(len(b.lines) + len(b.errors) for b in read_batches(part, io.BytesIO(data), columns))

        for label, run in (("read_part", per_row), ("read_batches", batched)):
            count, cpu, wall = _best(run, args.repeat)
            print(f"{fmt:<10} {label:<13} {count:>9} {cpu:>7.3f} {count / cpu:>12,.0f} {count / wall:>12,.0f}")


if __name__ == "__main__":
    main()
