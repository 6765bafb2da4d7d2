"""CSV, CSV.gz and CDM partitions through ``pyarrow.csv``, block by block, while that is exact.

A block (whole lines, about ``BLOCK_BYTES``) is parsed by Arrow only when the per-row reader would read
every line of it as one plain record: no NUL, no line longer than the csv module's field limit, no
blank line, no ``\\r`` but in ``\\r\\n``, text that is UTF-8, and quotes only as whole, doubled-quote
values on one line. Arrow then also refuses any line whose field count
differs from the header's; and a block whose row count is not its line count is not trusted either.
At the first block that is not clean, that block and the rest of the stream go to the per-row reader
(``read_csv_text``), which numbers lines from there on. A header that is anything but a plain line
goes the same way from the first byte, so every problem with the header is reported by the per-row
reader itself.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from shared.segments.blocks import BLOCK_BYTES, CHUNK, Blocks
from shared.segments.csv_reader import FIELD_LIMIT, read_csv_text
from shared.segments.parts import SourcePart, UnreadableFile, positions
from shared.segments.row_batch import RowBatch, batched, line_numbers

__all__ = ["BLOCK_BYTES", "read_csv_batches"]

BOM = b"\xef\xbb\xbf"


_QUOTE, _CR, _LF = 34, 13, 10


def _strictly_quoted(block: bytes, delimiter: bytes) -> bool:
    """Every quote belongs to a whole quoted value on one line, so csv's strict mode reads it as Arrow does.

    Counting quotes from the start of each line, an even-numbered one opens a value: it follows a
    delimiter, a line break, the start, or (a doubled inner quote) the quote just before. An odd one
    closes it: a delimiter, a line break, the end or (doubled) another quote follows. No line may end
    inside a value. Vectorised, as quoted files quote every value.
    """
    data = np.frombuffer(block, dtype=np.uint8)
    quotes = np.flatnonzero(data == _QUOTE)
    if len(quotes) % 2 or (np.searchsorted(quotes, np.flatnonzero(data == _LF)) % 2).any():
        return False
    if not len(quotes):
        return True
    mark = delimiter[0]
    opening, closing = quotes[0::2], quotes[1::2]
    before = data[opening - 1]  # (index -1 for a quote at the start: masked below)
    after = data[np.minimum(closing + 1, len(data) - 1)]
    opens = (opening == 0) | (before == mark) | (before == _LF) | (before == _QUOTE)
    closes = (closing == len(data) - 1) | (after == mark) | (after == _CR) | (after == _LF) | (after == _QUOTE)
    return bool(opens.all() and closes.all())


def _clean(block: bytes, delimiter: bytes) -> bool:
    if b"\x00" in block or block.startswith(BOM):
        return False  # (Arrow drops a BOM that starts its input; only the file's first is not data)
    if block.startswith((b"\n", b"\r\n")) or b"\n\n" in block or b"\n\r\n" in block:
        return False  # a blank line is skipped, and Arrow's row numbers would drift
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        return False  # a lone \r ends a line for the per-row reader
    if len(block) > FIELD_LIMIT and _longest_line(block) > FIELD_LIMIT:
        return False  # the csv module refuses a field over its limit (in characters, so bytes bound it)
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return b'"' not in block or _strictly_quoted(block, delimiter)


def _longest_line(block: bytes) -> int:
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    bounds = np.concatenate(([-1], ends, [len(block)]))
    return int(np.diff(bounds).max())


def _line_count(block: bytes) -> int:
    return block.count(b"\n") + (0 if block.endswith(b"\n") else 1)


def _plain_header(line: bytes, delimiter: bytes) -> list[str] | None:
    """The header's fields when the line is one plain record (quotes only around whole values; no NUL,
    no stray \\r; UTF-8), read by the csv module as the per-row reader reads it; else None."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line or b"\x00" in line or b"\r" in line or (b'"' in line and not _strictly_quoted(line, delimiter)):
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return next(csv.reader([text], delimiter=delimiter.decode(), strict=True))


class _Parser:
    """Arrow's CSV reader set up for this file's width and mapped positions."""

    def __init__(self, delimiter: str, width: int, at: list[int]) -> None:
        names = [f"f{i}" for i in range(width)]
        wanted = sorted(set(at))
        self._pick = [wanted.index(p) for p in at]
        self._read = pacsv.ReadOptions(column_names=names, use_threads=False, block_size=2 * BLOCK_BYTES + 1024)
        self._parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False)
        self._convert = pacsv.ConvertOptions(
            include_columns=[names[p] for p in wanted],
            column_types={names[p]: pa.string() for p in wanted},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    def columns(self, block: bytes) -> list[pa.Array] | None:
        try:
            table = pacsv.read_csv(
                io.BytesIO(block),
                read_options=self._read,
                parse_options=self._parse,
                convert_options=self._convert,
            )
        except pa.ArrowInvalid:
            return None  # a field count that differs, most often: the per-row reader names it
        if table.num_rows != _line_count(block):
            return None
        arrays = [table.column(i).combine_chunks() for i in range(table.num_columns)]
        return [arrays[i] for i in self._pick]


def read_csv_batches(
    part: SourcePart, stream: BinaryIO, columns: Sequence[str], *, batch_rows: int, block_bytes: int
) -> Iterator[RowBatch]:
    raw: Any = gzip.GzipFile(fileobj=stream, mode="rb") if part.format == "csv.gz" else stream
    blocks = Blocks(raw, block_bytes, piece=CHUNK if part.format == "csv.gz" else block_bytes)
    delimiter = part.delimiter.encode()
    if len(delimiter) != 1 or delimiter in b'"\r\n':
        # Arrow takes a one-byte delimiter only; the csv module reads this file alone.
        yield from batched(read_csv_text(part, raw, columns), len(columns), batch_rows)
        return
    block = blocks.next()
    if block is None:  # an empty file, a first line longer than a block, a damaged stream
        yield from batched(read_csv_text(part, blocks.rest(), columns), len(columns), batch_rows)
        return
    whole = block  # what the per-row reader must start from if the header is not plain
    if block.startswith(BOM):
        block = block[3:]
    header: Sequence[str] | None
    first = 1
    if part.columns is None or part.has_header:
        end = block.find(b"\n")
        head = block if end < 0 else block[:end]
        fields = _plain_header(head, delimiter)
        block = b"" if end < 0 else block[end + 1 :]
        first = 2
        header = fields if part.columns is None else part.columns
        if fields is None:
            header = None  # the per-row reader reads it (and names its problem)
    else:
        header = part.columns
    at: list[int] | None = None
    if header is not None:
        try:
            at = positions(header, columns, part.blob)
        except UnreadableFile:
            at = None  # the per-row reader raises it again, counting the file's rows as it does
    if at is None or header is None:
        yield from batched(read_csv_text(part, blocks.rest(whole), columns), len(columns), batch_rows)
        return
    width = len(header)
    parser = _Parser(part.delimiter, width, at)
    line = first
    while True:
        if block:
            arrays = parser.columns(block) if _clean(block, delimiter) else None
            if arrays is None:
                break
            count = len(arrays[0]) if arrays else _line_count(block)
            for start in range(0, count, batch_rows):
                size = min(batch_rows, count - start)
                yield RowBatch(line_numbers(line + start, size), [a.slice(start, size) for a in arrays], [])
            line += count
        block = blocks.next()
        if block is None:
            if blocks.done():
                return
            block = b""
            break
    rest = read_csv_text(part, blocks.rest(block), columns, after=line - 1, header=(at, width))
    yield from batched(rest, len(columns), batch_rows)
