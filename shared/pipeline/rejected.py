"""The rejected-rows file: every profile that did not end ``upserted``/``unchanged``, with its reason.

People open it in spreadsheet programs, so a cell that starts like a formula is neutralised with a
leading apostrophe (OWASP's advice against CSV/formula injection). Reasons may quote a vendor's
answer, so they pass through the connection's scrubber (``shared.scrub``) before they are stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from shared.storage import BlobStore, BlockWriter

HEADER = ("segment", "blob", "line", "email", "outcome", "reason")
HELD_BACK = "file held back"  # the outcome written for a file that could not be exported as a whole
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


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
            clean = self._scrubbed.get(reason)
            if clean is None:
                clean = self._scrub(reason)
                if len(self._scrubbed) < 4096:
                    self._scrubbed[reason] = clean
            reason = clean
        self._csv.writerow((safe_cell(segment), safe_cell(blob), line, safe_cell(email), outcome, safe_cell(reason)))
        self.rows += 1
        if self._buffer.tell() > 512 * 1024:
            self._drain()

    def _drain(self) -> None:
        self._writer.write(self._buffer.getvalue().encode())
        self._buffer.seek(0)
        self._buffer.truncate()

    def close(self) -> None:
        self._drain()
        self._writer.close()
