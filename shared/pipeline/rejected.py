"""The rejected-rows file: every profile that did not end ``upserted``/``unchanged``, with its reason.

People open it in spreadsheet programs, so a cell that starts like a formula is neutralised with a
leading apostrophe (OWASP's advice against CSV/formula injection). Reasons may quote a vendor's
answer, so they pass through the connection's scrubber (``shared.scrub``) before they are stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from shared.arrow_bytes import value_bytes
from shared.storage import BlobStore, BlockWriter

HEADER = ("segment", "blob", "line", "email", "outcome", "reason")
HELD_BACK = "file held back"  # the outcome written for a file that could not be exported as a whole
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_FORMULA_RE = "^[=+\\-@\t\r\n]"  # the same starts, for a whole column at once


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class RejectedWriter:
    """Streams rejected rows into one CSV piece (header included)."""

    def __init__(self, store: BlobStore, name: str, scrub: Callable[[str], str] | None = None) -> None:
        self.name = name
        self._scrub = scrub
        self._scrubbed: dict[str, str] = {}  # a run's reasons repeat: scrub each text once
        self._writer: BlockWriter = store.block_writer(name, threshold=1024 * 1024)
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self._csv.writerow(HEADER)
        self.rows = 0

    def add(self, segment: str, blob: str, line: int | str, email: str, outcome: str, reason: str) -> None:
        if self._scrub is not None and reason:
            reason = self._scrubbed_reason(reason)
        self._csv.writerow((safe_cell(segment), safe_cell(blob), line, safe_cell(email), outcome, safe_cell(reason)))
        self.rows += 1
        if self._buffer.tell() > 512 * 1024:
            self._drain()

    def add_many(
        self,
        segments: Sequence[str] | pa.Array,
        blobs: Sequence[str] | pa.Array,
        lines: Sequence[int] | pa.Array,
        emails: Sequence[str] | pa.Array,
        outcome: str,
        reasons: Sequence[str] | pa.Array,
    ) -> None:
        """Many rows of one outcome at once: the bytes ``add`` would write, one by one, for each index.

        The CSV text is built a column at a time with Arrow kernels (cells made safe, quoted where the
        csv module quotes: a comma, a quote, a line break) and handed over as one piece: a run's
        duplicates and invalid rows (tens of thousands at 1M profiles) cost no Python call each."""
        count = len(emails)
        if not count:
            return
        if self._scrub is not None:
            reasons = [self._scrubbed_reason(str(r)) if r else "" for r in _texts(reasons)]
        cells = [
            _csv_cell(_safe_column(segments)),
            _csv_cell(_safe_column(blobs)),
            _csv_cell(_string_column(lines)),
            _csv_cell(_safe_column(emails)),
            _csv_cell(pa.array([outcome], pa.string()))[0],
            _csv_cell(_safe_column(reasons)),
        ]
        rows = pc.binary_join_element_wise(*cells, ",")
        rows = pc.binary_replace_slice(rows, start=1 << 30, stop=1 << 30, replacement="\n")
        self._drain()  # what ``add`` buffered goes first
        self._writer.write(value_bytes(rows))
        self.rows += count

    def _scrubbed_reason(self, reason: str) -> str:
        clean = self._scrubbed.get(reason)
        if clean is None:
            clean = self._scrub(reason) if self._scrub is not None else reason
            if len(self._scrubbed) < 4096:
                self._scrubbed[reason] = clean
        return clean

    def _drain(self) -> None:
        self._writer.write(self._buffer.getvalue().encode())
        self._buffer.seek(0)
        self._buffer.truncate()

    def close(self) -> None:
        self._drain()
        self._writer.close()


def _texts(values: Sequence[object] | pa.Array) -> list[object]:
    return values.to_pylist() if isinstance(values, pa.Array | pa.ChunkedArray) else list(values)


def _string_column(values: Sequence[object] | pa.Array) -> pa.Array:
    """Any column as text: numbers as ``str()`` writes them, null as empty."""
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(list(values))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.fill_null(array.cast(pa.string()), "")


def _safe_column(values: Sequence[str] | pa.Array) -> pa.Array:
    """``safe_cell`` of every value: an apostrophe before those that start like a formula."""
    array = _string_column(values)
    risky = pc.match_substring_regex(array, _FORMULA_RE)
    return pc.if_else(risky, pc.binary_join_element_wise("'", array, ""), array)


def _csv_cell(values: pa.Array) -> pa.Array:
    """Each value as the csv module writes a cell (excel dialect, minimal quoting): in quotes, its quotes
    doubled, when it holds a comma, a quote or a line break; as it is otherwise."""
    needs = pc.match_substring_regex(values, '[",\r\n]')
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)
