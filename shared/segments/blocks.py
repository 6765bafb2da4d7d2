"""Whole-line blocks of a (decompressed) stream, and the stream a per-row reader resumes from."""

from __future__ import annotations

import io
from typing import Any

from shared.segments.csv_reader import DECOMPRESSION_ERRORS

BLOCK_BYTES = 1024 * 1024  # a block of whole lines; twice this stays under LINE_LIMIT
# The text readers take a (decompressed) stream in pieces of this size (io.TextIOWrapper's chunk). The
# blocks are gathered the same way, so a gzip stream damaged part-way gives up exactly the same bytes
# before its error as it does to the per-row reader.
CHUNK = 8192


class Blocks:
    """Blocks of whole lines of ``raw`` (the last may lack its newline at the end of the file).

    ``next()`` returns None when it cannot go on: at the end, when the stream fails (``failure``), or
    when one line is longer than a block. ``rest()`` is then what the per-row reader must read.
    """

    def __init__(self, raw: Any, size: int, *, piece: int = CHUNK) -> None:
        self._read = raw.read1 if hasattr(raw, "read1") else raw.read
        self.raw = raw
        self.size = size
        # Reads of ``CHUNK`` keep a damaged gzip stream's bytes the per-row reader's; a plain stream
        # cannot fail part-way that way, so it is read in pieces as large as a block (fewer calls).
        self.piece = piece
        self.carry = b""  # bytes read after the last block returned
        self.failure: BaseException | None = None
        self.ended = False

    def next(self) -> bytes | None:
        if self.ended or self.failure is not None:
            return None
        pieces = [self.carry]
        have = len(self.carry)
        while have < self.size:
            try:
                piece = self._read(min(self.piece, self.size))
            except DECOMPRESSION_ERRORS as exc:
                self.failure = exc
                break
            if not piece:
                self.ended = True
                break
            pieces.append(piece)
            have += len(piece)
        data = b"".join(pieces)
        if self.ended:
            self.carry = b""
            return data or None
        cut = data.rfind(b"\n") + 1
        self.carry = data[cut:]
        if cut == 0 or self.failure is not None:
            self.carry = data  # a line longer than a block, or a failure: all of it goes to the slow path
            return None
        return data[:cut]

    def done(self) -> bool:
        return self.ended and not self.carry

    def rest(self, before: bytes = b"") -> io.BufferedReader:
        """``before`` + the bytes not yet returned + the rest of the stream, failing where it fails."""
        return io.BufferedReader(_Resumed(before + self.carry, self._read, self.failure), CHUNK)


class _Resumed(io.RawIOBase):
    def __init__(self, prefix: bytes, read: Any, failure: BaseException | None) -> None:
        self._prefix = memoryview(prefix)
        self._read = read
        self._failure = failure

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        if self._failure is not None:
            raise self._failure
        data = self._read(min(len(buffer), CHUNK))
        buffer[: len(data)] = data
        return len(data)
