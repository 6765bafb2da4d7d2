"""The rejected-rows file: rows written a column at a time read exactly as rows written one by one."""

from __future__ import annotations

import csv
import io

import pyarrow as pa

from shared.pipeline.rejected import HEADER, RejectedWriter
from shared.storage import BlobStore

ROWS = [
    ("seg", "a.csv", 2, "x@y.co", "duplicate", "same email as a.csv line 1"),
    ("=cmd|'/C calc'!A0", "b,c.csv", 10, "+x@y.co", "invalid", '-2+3 "quoted", and a,comma'),
    ("seg", "d.csv", 11, "", "invalid", "no email address"),
    ("ség", "e\nf.csv", 12, "@at", "invalid", "\tline\r\nbreak"),
    ("seg", "g.csv", 13, "ok@y.co", "invalid", ""),
    ("s\rg", 'h"q".csv', 14, 'a"b@y.co', "invalid", "@SUM(1)"),
    ("seg", "i.csv", 15, "x\x00y@y.co", "invalid", "a\x1fb, c"),
]


def _scrub(text: str) -> str:
    return text.replace("calc", "[redacted]").replace("quoted", "[redacted]")


def test_add_many_writes_the_bytes_add_writes_row_by_row(blob_store: BlobStore) -> None:
    one = RejectedWriter(blob_store, "r/one.csv", scrub=_scrub)
    for row in ROWS:
        one.add(*row)
    one.close()
    many = RejectedWriter(blob_store, "r/many.csv", scrub=_scrub)
    columns = list(zip(*ROWS, strict=True))
    many.add_many(
        pa.array(columns[0]),
        list(columns[1]),
        pa.array(columns[2], pa.int64()),
        pa.array(columns[3]),
        "invalid",
        pa.array(columns[5]),
    )
    many.add_many([], [], [], [], "invalid", [])  # nothing to write: nothing written
    many.close()
    assert many.rows == one.rows == len(ROWS)
    written = blob_store.read_bytes("r/many.csv")
    expected = blob_store.read_bytes("r/one.csv").replace(b"duplicate", b"invalid")
    assert written == expected
    rows = list(csv.reader(io.StringIO(written.decode())))
    assert tuple(rows[0]) == HEADER
    assert rows[2][0].startswith("'=") and rows[2][3] == "'+x@y.co" and rows[2][5].startswith("'-2+3")
    assert "[redacted]" in rows[2][5] and rows[4][1] == "e\nf.csv" and rows[4][5] == "'\tline\r\nbreak"


def test_add_and_add_many_keep_their_order_whatever_the_column_types(blob_store: BlobStore) -> None:
    one = RejectedWriter(blob_store, "r/one.csv")
    for row in ROWS * 2:
        one.add(*row)
    one.close()
    mixed = RejectedWriter(blob_store, "r/mixed.csv")
    mixed.add(*ROWS[0])
    rest = list(zip(*ROWS[1:], strict=True))
    # Lists, as stage passes them (its lines are Python ints), then one row by add again.
    mixed.add_many(list(rest[0]), list(rest[1]), list(rest[2]), list(rest[3]), "invalid", list(rest[5]))
    mixed.add(*ROWS[0])
    mixed.add_many(*(pa.array(c) for c in rest[:4]), "invalid", pa.array(rest[5]))
    mixed.close()
    assert mixed.rows == one.rows
    assert blob_store.read_bytes("r/mixed.csv") == blob_store.read_bytes("r/one.csv")
