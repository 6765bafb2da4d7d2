"""CSV, CSV.gz and headerless CDM partitions, read so that no row is lost without an outcome.

The csv module stops a whole file at the first structural error, and a quote that never closes swallows
every following line into one value. So the reader keeps the physical lines of the record being parsed
(a record is one line unless a quoted value spans lines); when the csv module refuses a record, that
record's first line becomes an ``invalid`` row and its other lines are parsed again as rows of their
own. The lines kept are bounded by the csv module's field limit, and a physical line longer than
``LINE_LIMIT`` is skipped without being held in memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from shared.segments.parts import Row, RowError, SourcePart, UnreadableFile, check_values, positions

LINE_LIMIT = 4 * 1024 * 1024  # characters; a profile line is a few hundred
FIELD_LIMIT = csv.field_size_limit()
DECOMPRESSION_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)

_CSV_MESSAGES = {
    "unexpected end of data": "a quoted value that starts on this line is never closed",
    "field larger than field limit": (
        f"a value is longer than {FIELD_LIMIT} characters (often a quoted value that is never closed)"
    ),
    "expected after": "a quote closes in the middle of a value; quote the whole value and double inner quotes",
}


def _message(error: csv.Error) -> str:
    text = str(error)
    for key, message in _CSV_MESSAGES.items():
        if key in text:
            return message
    return f"the line is not valid CSV ({text})"


class _Lines:
    """Physical lines with their numbers, and the lines of the record being parsed.

    Iterating gives the lines for a csv reader: first those handed back by ``refused``, then the
    stream's. One generator per reader, so the hot path pays one Python frame per line.
    """

    def __init__(self, text: io.TextIOWrapper, after: int = 0) -> None:
        self._readline = text.readline
        self.read = after  # physical lines taken from the stream (``after`` were read by someone else)
        self.base = after  # lines before the current record
        self.taken: list[str] = []  # lines of the current record
        self.replay: list[str] = []  # lines to parse again, last first
        self.suspicious = False  # the current record has a non-ASCII character or a NUL
        self.oversized: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        readline, append, replay = self._readline, self.taken.append, self.replay
        while True:
            if replay:
                line = replay.pop()
            else:
                line = readline(LINE_LIMIT)
                if not line:
                    return
                self.read += 1
                if len(line) == LINE_LIMIT and not line.endswith(("\n", "\r")):
                    # Skip the rest of this line in bounded pieces; the row is reported, not kept.
                    while (
                        (more := readline(LINE_LIMIT)) and len(more) == LINE_LIMIT and not more.endswith(("\n", "\r"))
                    ):
                        pass
                    self.oversized.add(self.read)
                    line = "\n"
            append(line)
            if not line.isascii() or "\x00" in line:
                self.suspicious = True
            yield line

    def record_done(self) -> int:
        """The first line number of the record just parsed; starts the next record."""
        start = self.base + 1
        self.base += len(self.taken)
        self.taken.clear()
        return start

    def oversized_in(self, start: int) -> int | None:
        """An oversized line within the record that starts at ``start`` (just parsed), if any."""
        hit = [n for n in self.oversized if start <= n <= self.base]
        self.oversized.difference_update(hit)
        return hit[0] if hit else None

    def refused(self) -> int:
        """The first line of the refused record; its other lines will be parsed again."""
        start = self.base + 1
        self.replay.extend(reversed(self.taken[1:]))
        self.base += 1
        self.taken.clear()
        self.suspicious = False
        return start


def _reader(lines: _Lines, delimiter: str) -> Iterator[list[str]]:
    return csv.reader(iter(lines), delimiter=delimiter, strict=True)


def _records(lines: _Lines, delimiter: str) -> Iterator[tuple[int, list[str] | str]]:
    """(first line, fields) per record, or (first line, problem) for one that cannot be parsed."""
    reader = _reader(lines, delimiter)
    while True:
        try:
            for record in reader:
                start = lines.record_done()
                if lines.oversized and (at := lines.oversized_in(start)) is not None:
                    yield start, f"line {at} is longer than {LINE_LIMIT} characters"
                    continue
                yield start, record
            return
        except csv.Error as exc:
            yield lines.refused(), _message(exc)
            reader = _reader(lines, delimiter)


def read_csv(part: SourcePart, stream: BinaryIO, columns: Sequence[str]) -> Iterator[Row]:
    raw: Any = gzip.GzipFile(fileobj=stream, mode="rb") if part.format == "csv.gz" else stream
    return read_csv_text(part, raw, columns)


def read_csv_text(
    part: SourcePart,
    raw: BinaryIO,
    columns: Sequence[str],
    *,
    after: int = 0,
    header: tuple[list[int], int] | None = None,
) -> Iterator[Row]:
    """Rows of ``raw``, the file's bytes already decompressed. With ``header`` (positions, width) the
    stream resumes a file part-way: it starts after physical line ``after`` (so no BOM is looked for),
    and its lines are all data rows — what the Arrow fast path hands on at the first block it cannot
    read exactly (see ``arrow_csv.py``)."""
    encoding = "utf-8-sig" if after == 0 else "utf-8"
    text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    lines = _Lines(text, after)
    try:
        if header is None:
            yield from _rows(part, lines, columns)
        else:
            yield from _data_rows(part, lines, columns, *header)
    except DECOMPRESSION_ERRORS as exc:
        raise UnreadableFile(
            f"the compressed file is damaged or cut short after line {lines.read} ({exc}); "
            "upload it again — none of its rows were exported",
            blob=part.blob,
            line=lines.read + 1,
            records=None,  # the rows before the damage: the caller counted them
        ) from None


def _count(records: Iterator[tuple[int, list[str] | str]]) -> int:
    return sum(1 for _, record in records if not _blank(record))


def _blank(record: list[str] | str) -> bool:
    return isinstance(record, list) and (not record or (len(record) == 1 and not record[0].strip()))


def _rows(part: SourcePart, lines: _Lines, columns: Sequence[str]) -> Iterator[Row]:
    header: Sequence[str]
    records = _records(lines, part.delimiter)
    if part.columns is not None:
        header = part.columns
        what = "the CDM entity's attribute list"
        if part.has_header:
            next(records, None)
    else:
        what = "the header"
        first = next(records, None)
        if first is None:
            return
        line, fields = first
        if isinstance(fields, str):
            message = f"the header cannot be read: {fields}"
            raise UnreadableFile(message, blob=part.blob, line=line, records=_count(records))
        problem = check_values(fields, fields)
        if problem is not None:
            raise UnreadableFile(f"the header: {problem}", blob=part.blob, line=line, records=_count(records))
        header = fields
    lines.suspicious = False
    try:
        at = positions(header, columns, part.blob, what=what)
    except UnreadableFile as exc:
        exc.records = _count(records)
        raise
    width = len(header)
    yield from _data_rows(part, lines, columns, at, width)


def _data_rows(part: SourcePart, lines: _Lines, columns: Sequence[str], at: list[int], width: int) -> Iterator[Row]:
    """The hot loop: the same as iterating ``_records``, with that generator's frame inlined."""
    reader = _reader(lines, part.delimiter)
    while True:
        try:
            for record in reader:
                start = lines.base + 1
                lines.base += len(lines.taken)
                lines.taken.clear()
                if lines.oversized and (over := lines.oversized_in(start)) is not None:
                    yield RowError(start, f"line {over} is longer than {LINE_LIMIT} characters")
                    continue
                if len(record) != width:
                    if not record or (len(record) == 1 and not record[0].strip()):
                        continue  # a blank line is not a profile
                    yield RowError(start, f"expected {width} fields, found {len(record)}")
                    continue
                values = tuple([record[p] for p in at])
                if lines.suspicious:
                    lines.suspicious = False
                    problem = check_values(columns, values)
                    if problem is not None:
                        yield RowError(start, problem)
                        continue
                yield start, values
            return
        except csv.Error as exc:
            yield RowError(lines.refused(), _message(exc))
            reader = _reader(lines, part.delimiter)
