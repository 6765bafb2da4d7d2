"""JSON Lines (optionally gzipped) through ``pyarrow.json``, block by block, while that is exact.

A block of whole lines is parsed by Arrow only when every line is one object (it starts with ``{``
and ends with ``}``, so there are no blank lines) and the per-row reader could find nothing wrong in
it: no NUL (raw or ``\\u0000``), no escaped surrogate, text that is UTF-8.
Arrow refuses duplicate keys, mixed types and bad JSON itself. The block's keys (the union over its
lines) must match each mapped column at most once, case- and space-insensitively; a mapped column
that is text, an integer, a boolean or null converts as ``scalar()`` writes it (a missing key is
empty, as it is per row). Timestamps Arrow infers from text are read again as text. Anything else —
floats, nested values, two spellings of a key — and that block and the rest of the stream go to the
per-row reader (``read_jsonl_lines``), which continues the line numbers, the count of rows and the
mapped columns seen so far.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from shared.segments.blocks import CHUNK, Blocks
from shared.segments.jsonl_reader import check_all_seen, read_jsonl_lines
from shared.segments.parts import SourcePart
from shared.segments.row_batch import RowBatch, batched, line_numbers

BOM = b"\xef\xbb\xbf"
_LF, _OPEN, _CLOSE = 10, ord("{"), ord("}")
_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")  # an escaped NUL or surrogate


def _line_count(block: bytes) -> int:
    return block.count(b"\n") + (0 if block.endswith(b"\n") else 1)


def _clean(block: bytes) -> bool:
    # (A one-byte search is a memchr; looking for the two bytes "\\u" directly costs 30 times as much.)
    if b"\x00" in block or (b"\\" in block and _ESCAPES.search(block) is not None):
        return False
    # Every line one object: the block starts with "{", ends with "}", and every line break is "}\n{".
    # (Control characters and the like Arrow's parser refuses as the per-row one does.)
    if not block.startswith(b"{") or not block.endswith((b"}", b"}\n", b"}\r\n")):
        return False
    if b"\r" in block:
        breaks = block.count(b"\n") - block.endswith(b"\n")
        if block.count(b"\r") != block.count(b"}\r\n") or block.endswith(b"}\r"):
            return False
        if block.count(b"}\n{") + block.count(b"}\r\n{") != breaks:
            return False
    elif not _objects_joined(block):
        return False
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def _objects_joined(block: bytes) -> bool:
    """Every line break but a final one sits between "}" and "{" (a block without "\\r"): the byte
    before and after each break, looked up at once (counting "}\\n{" directly is a slower search)."""
    data = np.frombuffer(block, dtype=np.uint8)
    inner = np.flatnonzero(data[:-1] == _LF)  # breaks with a byte after them
    return bool((data[inner - 1] == _CLOSE).all() and (data[inner + 1] == _OPEN).all())


def _text(array: Any) -> pa.Array | None:
    kind = array.type
    if not (
        pa.types.is_string(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind)
    ):
        return None
    return array.combine_chunks().cast(pa.string()).fill_null("")


def _parse(block: bytes, text_keys: list[str]) -> pa.Table:
    schema = pa.schema([(k, pa.string()) for k in text_keys]) if text_keys else None
    return pajson.read_json(
        io.BytesIO(block),
        read_options=pajson.ReadOptions(use_threads=False, block_size=len(block) + 1),
        parse_options=pajson.ParseOptions(explicit_schema=schema, newlines_in_values=False),
    )


def _columns(block: bytes, wanted: list[str], seen: set[str]) -> list[pa.Array] | None:
    """The mapped columns of a clean block as text, or None when the per-row reader must read it."""
    if not _clean(block):
        return None
    try:
        table = _parse(block, [])
        lines = _line_count(block)
        if table.num_rows != lines:
            return None
        keys: dict[str, str] = {}
        for name in table.column_names:
            lowered = name.strip().lower()
            if lowered in wanted:
                if lowered in keys:
                    return None  # two spellings: per line, they may or may not be ambiguous
                keys[lowered] = name
        temporal = [k for k in keys.values() if pa.types.is_temporal(table.schema.field(k).type)]
        if temporal:  # Arrow took text for a date; the per-row reader sends the text
            table = _parse(block, temporal)
    except pa.ArrowInvalid:
        return None
    arrays = []
    for w in wanted:
        if w not in keys:
            arrays.append(pa.nulls(lines, pa.string()).fill_null(""))
            continue
        text = _text(table.column(keys[w]))
        if text is None:
            return None
        arrays.append(text)
    seen.update(keys)
    return arrays


def read_jsonl_batches(
    part: SourcePart, stream: BinaryIO, columns: Sequence[str], *, batch_rows: int, block_bytes: int
) -> Iterator[RowBatch]:
    raw: Any = gzip.GzipFile(fileobj=stream, mode="rb") if part.format == "jsonl.gz" else stream
    blocks = Blocks(raw, block_bytes, piece=CHUNK if part.format == "jsonl.gz" else block_bytes)
    wanted = [c.strip().lower() for c in columns]
    seen: set[str] = set()
    line = 0  # physical lines read; every one of them a row, as clean blocks have no blank line
    while True:
        block = blocks.next()
        if block is None:
            if blocks.done():
                break
            block = b""
        body = block[3:] if line == 0 and block.startswith(BOM) else block
        arrays = _columns(body, wanted, seen) if body else None
        if arrays is None:
            rest = read_jsonl_lines(part, blocks.rest(block), columns, after=line, rows=line, seen=seen)
            yield from batched(rest, len(columns), batch_rows)
            return
        count = len(arrays[0])
        for start in range(0, count, batch_rows):
            size = min(batch_rows, count - start)
            yield RowBatch(line_numbers(line + 1 + start, size), [a.slice(start, size) for a in arrays], [])
        line += count
    check_all_seen(part, columns, seen, line)
