"""What the readers share: a source file, a row-level error, a file-level failure, column lookup."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import SegmentFormatError

# Undecodable bytes are read with ``surrogateescape``: each becomes one lone surrogate U+DC80..U+DCFF,
# which strict UTF-8 never produces, so finding one is exact proof the bytes were not UTF-8.
_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class SourcePart:
    segment: str
    blob: str
    format: str  # csv | csv.gz | jsonl | jsonl.gz | parquet | cdm_csv | cdm (a model that cannot be used)
    columns: tuple[str, ...] | None = None  # headerless CDM partitions: names from the model
    delimiter: str = ","
    has_header: bool = True
    problem: str | None = None  # why discovery already knows this file cannot be read
    problem_line: int | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


Row = tuple[int, tuple[str, ...]] | RowError


class UnreadableFile(SegmentFormatError):
    """One file cannot be exported as a whole (its header is ambiguous, a mapped column is missing,
    the compressed data is cut short...). The run holds this file back and goes on with the others.

    ``records`` is how many data rows the file holds when the problem is in its header (counted by
    reading on), or None when the damage is part-way: then the rows seen before it are the count.
    """

    def __init__(self, message: str, *, blob: str, line: int | None = None, records: int | None = None) -> None:
        super().__init__(message, blob=blob, line=line)
        self.reason = message
        self.records = records


def bad_value(column: str, value: str) -> str | None:
    """Why a mapped value cannot be sent as it is, or None. Only called for suspicious rows."""
    if "\x00" in value:
        return f"{column!r} contains a NUL byte"
    found = _SURROGATE.search(value)
    if found is not None:
        byte = ord(found.group()) - 0xDC00
        return f"{column!r} is not valid UTF-8 (byte 0x{byte:02X}); save the file as UTF-8"
    return None


def check_values(columns: Sequence[str], values: Sequence[str]) -> str | None:
    for column, value in zip(columns, values, strict=True):
        problem = bad_value(column, value)
        if problem is not None:
            return problem
    return None


def positions(header: Sequence[str], columns: Sequence[str], blob: str, *, what: str = "the file") -> list[int]:
    """Where each requested column sits in ``header`` (case- and space-insensitive).

    A mapped column that is missing or appears twice makes the whole file unusable: every row would
    be missing the value or ambiguous, and one message naming the column is the fix a person needs
    (a per-row error would repeat it on every line).
    """
    index: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        index.setdefault(name.strip().lower(), []).append(i)
    found, missing = [], []
    for column in columns:
        at = index.get(column.strip().lower())
        if at is None:
            missing.append(column)
            continue
        if len(at) > 1:
            names = " and ".join(f"column {i + 1} ({header[i]!r})" for i in at)
            raise UnreadableFile(
                f"the mapped column {column!r} appears {len(at)} times in the header ({names}); "
                "rename or remove one so it is clear which to export",
                blob=blob,
                line=1,
            )
        found.append(at[0])
    if missing:
        which = missing_columns(columns, missing)
        raise UnreadableFile(
            f"{which} not found; {what} has {', '.join(header)}",
            blob=blob,
            line=1,
        )
    return found


def missing_columns(columns: Sequence[str], missing: Sequence[str]) -> str:
    """'the email column 'mail' and mapped column(s) 'a', 'b'' — the email column named apart."""
    said = []
    if columns[0] in missing:
        said.append(f"the email column {columns[0]!r}")
    others = [repr(m) for m in missing if m != columns[0]]
    if others:
        said.append(f"mapped column(s) {', '.join(others)}")
    return " and ".join(said)


def scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
