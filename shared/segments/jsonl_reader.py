"""JSON Lines (optionally gzipped): one object per line; keys are the columns.

The rules match CSV's: a mapped column that no line of the file has fails that file naming the
column (in CSV the header would lack it); a line that lacks a key other lines have is an empty value,
as an empty CSV cell is. Keys that differ only in case both matching one mapped column make that
line ambiguous, so it is ``invalid``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import orjson

from shared.segments.csv_reader import DECOMPRESSION_ERRORS, LINE_LIMIT
from shared.segments.parts import Row, RowError, SourcePart, UnreadableFile, check_values, missing_columns, scalar

_NESTED = (dict, list)


def _load(data: bytes) -> tuple[Any, bool]:
    """(parsed line, whether it held bytes that are not UTF-8). Raises ValueError for bad JSON."""
    try:
        return orjson.loads(data), False
    except orjson.JSONDecodeError:
        pass
    # orjson refuses bytes that are not UTF-8; the stdlib parser reads them as lone surrogates, which
    # the caller then finds and names (only values of mapped columns matter).
    return json.loads(data.decode("utf-8", "surrogateescape")), True


def read_jsonl(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    raw: Any = gzip.GzipFile(fileobj=stream, mode="rb") if part.format == "jsonl.gz" else stream
    return read_jsonl_lines(part, raw, columns)


def read_jsonl_lines(
    part: SourcePart,
    raw: Any,
    columns: Sequence[str],
    *,
    after: int = 0,
    rows: int = 0,
    seen: set[str] | None = None,
) -> Iterator[Row]:
    """Rows of ``raw``, the file's bytes already decompressed. To resume a file part-way (see
    ``arrow_jsonl.py``): ``after`` physical lines were read before, ``rows`` of them not blank, and
    ``seen`` holds the (lower-cased) mapped columns some line had."""
    wanted = [c.strip().lower() for c in columns]
    seen = set() if seen is None else seen
    keys: dict[str, str] = {}  # lower-cased requested column → key as the file spells it
    known: frozenset[str] = frozenset()
    readline = raw.readline
    number = after
    while True:
        try:
            data = readline(LINE_LIMIT)
        except DECOMPRESSION_ERRORS as exc:
            raise UnreadableFile(
                f"the compressed file is damaged or cut short after line {number} ({exc}); "
                "upload it again — none of its rows were exported",
                blob=part.blob,
                line=number + 1,
            ) from None
        if not data:
            break
        number += 1
        if len(data) == LINE_LIMIT and not data.endswith(b"\n"):
            while (more := readline(LINE_LIMIT)) and len(more) == LINE_LIMIT and not more.endswith(b"\n"):
                pass
            rows += 1
            yield RowError(number, f"line {number} is longer than {LINE_LIMIT} bytes")
            continue
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if not data.strip():
            continue
        rows += 1
        try:
            item, undecodable = _load(data)
        except ValueError as exc:
            yield RowError(number, f"not a valid JSON line ({exc})")
            continue
        if not isinstance(item, dict):
            yield RowError(number, "a JSON line must be an object")
            continue
        if item.keys() != known:
            known = frozenset(item.keys())
            found: dict[str, list[str]] = {}
            for key in item:
                found.setdefault(str(key).strip().lower(), []).append(key)
            ambiguous = [found[w] for w in wanted if len(found.get(w, ())) > 1]
            if ambiguous:
                known = frozenset()
                yield RowError(number, f"keys {' and '.join(map(repr, ambiguous[0]))} both match a mapped column")
                continue
            keys = {w: found[w][0] for w in wanted if w in found}
            seen.update(keys)
        values = []
        problem = None
        for column, w in zip(columns, wanted, strict=True):
            value = item.get(keys[w]) if w in keys else None
            if isinstance(value, _NESTED):
                problem = f"{column!r} holds a JSON {type(value).__name__}, not a single value"
                break
            values.append(scalar(value))
        if problem is None and (undecodable or any("\x00" in v for v in values)):
            problem = check_values(columns, values)
        if problem is not None:
            yield RowError(number, problem)
            continue
        yield number, tuple(values)
    check_all_seen(part, columns, seen, rows)


def check_all_seen(part: SourcePart, columns: Sequence[str], seen: set[str], rows: int) -> None:
    """At the end of the file: a mapped column that no line had fails the file, naming it."""
    missing = [c for c in columns if c.strip().lower() not in seen]
    if rows and missing:
        which = missing_columns(columns, missing)
        raise UnreadableFile(
            f"{which} not found in any line of the file",
            blob=part.blob,
            records=rows,
        )
