"""The bytes behind an Arrow ``string`` array, for the checks that one pass over them can settle (is
there a line break, a byte JSON escapes?) and for writing the values out back to back."""

from __future__ import annotations

import pyarrow as pa


def value_bytes(values: pa.Array) -> bytes:
    """The values of a ``string`` array (int32 offsets), back to back: its data buffer, for its slice
    only (a slice's buffer also holds the values around it)."""
    if not len(values) or values.buffers()[2] is None:
        return b""
    offsets = memoryview(values.buffers()[1]).cast("i")
    first, last = offsets[values.offset], offsets[values.offset + len(values)]
    return memoryview(values.buffers()[2])[first:last].tobytes()
