"""JSON fragments built a column at a time with Arrow string kernels, byte-identical to ``orjson``.

The vendors' ``encode_batch`` build each contact's JSON from *members*: string arrays holding
``,"key":"value"`` for the rows that have a value and null for the rows that do not. One
``binary_join_element_wise`` with an empty separator (``concat``) then concatenates an object's constant
parts and its members, nulls as nothing, so an absent value leaves no trace, as a dict that omits the key.
Every member starts with its comma; a nested object or array (present only when one of its members is)
is the join of its members with the first comma replaced by the opening (see ``group``).

Values are escaped as orjson escapes them: ``"`` and ``\\`` get a backslash, U+0000–U+001F become
``\\b \\t \\n \\f \\r`` or ``\\u00XX``; everything else (non-ASCII, emoji, U+007F, U+2028) is written as is.
Most columns need no escaping at all, which one scan of the column's bytes proves (nothing is copied
then). When few rows need it, those rows are found from the byte positions and escaped by orjson itself;
when many do, quotes and backslashes are replaced by kernels and only the rows holding a control
character go through orjson.

The row's JSON must fit ``string`` offsets (2 GiB a batch): encode a partition, not a whole export, at once.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shared.arrow_bytes import value_bytes

# The bytes orjson escapes inside a string: translate() deleting every other byte leaves only these.
_QUOTE_BACKSLASH = frozenset(b'"\\')
_CONTROL = frozenset(range(0x20))
_PLAIN = bytes(b for b in range(256) if b not in _QUOTE_BACKSLASH | _CONTROL)
_NULL = pa.scalar(None, pa.string())


def string_column(values: pa.Array | pa.ChunkedArray, what: str, length: int | None = None) -> pa.Array:
    """``values`` as one ``string`` array (the kernels below need one type), checked to hold ``length`` rows."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    if length is not None and len(values) != length:
        raise ValueError(f"{what} has {len(values)} rows, the emails {length}")
    return values


def batch_columns(
    emails: pa.Array | pa.ChunkedArray, attributes: Mapping[str, pa.Array | pa.ChunkedArray]
) -> tuple[pa.Array, dict[str, pa.Array]]:
    """The emails (none may be null) and every attribute as a ``string`` array of the same length, with
    empty strings made null: both mean "no value", as in a ``Contact`` whose attributes omit the name."""
    email_column = string_column(emails, "emails")
    if email_column.null_count:
        raise ValueError("emails must not be null")
    columns = {
        name: present(string_column(values, f"attribute {name!r}", len(email_column)))
        for name, values in attributes.items()
    }
    return email_column, columns


def present(values: pa.Array) -> pa.Array:
    """Null where the value is empty (or null): the rows that hold no value."""
    holds = pc.fill_null(pc.not_equal(values, ""), False)
    if values.offset or holds.offset:
        return pc.if_else(holds, values, _NULL)
    # Unsliced: the same buffers under a new validity bitmap (bit i: row i holds a value); nothing copied.
    _, offsets, data = values.buffers()
    return pa.Array.from_buffers(pa.string(), len(values), [holds.buffers()[1], offsets, data])


def key(name: str) -> str:
    """A JSON object key followed by its colon, escaped exactly as orjson writes it."""
    return orjson.dumps(name).decode() + ":"


def literal(value: object) -> str:
    """A constant as orjson writes it (a status, a tag, a timestamp, ``false``)."""
    return orjson.dumps(value).decode()


def escaped(values: pa.Array) -> pa.Array:
    """The values as the inside of JSON strings (without the quotes), exactly as orjson escapes them."""
    if len(values) == 0 or values.buffers()[2] is None:
        return values
    bounds = memoryview(values.buffers()[1]).cast("i")  # string offsets: value i is data[bounds[i]:bounds[i+1]]
    first, last = values.offset, values.offset + len(values)
    data = value_bytes(values)
    found = data.translate(None, _PLAIN)  # every byte JSON escapes, in one pass
    if not found:
        return values  # the common case: nothing to escape, nothing copied
    if len(found) > len(values) // _FEW:
        return _escaped_by_kernels(values, found)
    # Few: find the rows holding them and let orjson escape those rows.
    rows: set[int] = set()
    for byte in set(found):
        at = data.find(byte)
        while at != -1:
            row = bisect.bisect_right(bounds, bounds[first] + at, first, last + 1) - 1
            rows.add(row - first)
            at = data.find(byte, bounds[row + 1] - bounds[first])  # on from the next row
    return _escaped_rows(values, sorted(rows))


# "Few" bytes to escape: at most one per _FEW rows; then finding their rows costs less than a kernel pass.
_FEW = 16


def _escaped_rows(values: pa.Array, rows: list[int]) -> pa.Array:
    """``values`` with the given rows escaped by orjson (null rows stay null)."""
    originals = values.take(pa.array(rows, pa.int64())).to_pylist()
    chosen = [(row, text) for row, text in zip(rows, originals, strict=True) if text is not None]
    mask = bytearray((len(values) + 7) // 8)
    for row, _ in chosen:
        mask[row >> 3] |= 1 << (row & 7)
    exact = pa.array([orjson.dumps(text)[1:-1].decode() for _, text in chosen], pa.string())
    condition = pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bytes(mask))])
    return pc.replace_with_mask(values, condition, exact)


def _escaped_by_kernels(values: pa.Array, found: bytes) -> pa.Array:
    """Many values to escape: quotes and backslashes by replace kernels, control characters by orjson."""
    result = values
    if not _QUOTE_BACKSLASH.isdisjoint(found):
        result = pc.replace_substring(result, "\\", "\\\\")  # first, so the next backslashes stay single
        result = pc.replace_substring(result, '"', '\\"')
    if not _CONTROL.isdisjoint(found):
        rows = pc.fill_null(pc.match_substring_regex(values, "[\\x00-\\x1f]"), False)
        originals = pc.filter(values, rows).to_pylist()  # from the original values, not the replaced ones
        exact = pa.array([orjson.dumps(v)[1:-1].decode() for v in originals], pa.string())
        result = pc.replace_with_mask(result, rows, exact)
    return result


def escaped_bound(values: pa.Array) -> np.ndarray:
    """An upper bound of each value's ``escaped`` length in bytes (0 for a null): its UTF-8 length when
    the column holds nothing JSON escapes (one pass over its bytes), else six times it (``\\u00XX``, the
    longest escape, is six bytes for one)."""
    lengths = np.asarray(pc.fill_null(pc.binary_length(values), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return lengths if not value_bytes(values).translate(None, _PLAIN) else lengths * 6


def member(prefix: str, values: pa.Array, suffix: str = '"') -> pa.Array:
    """``prefix + escaped(value) + suffix`` where a value is present, null elsewhere.

    ``prefix`` is usually ``',' + key(name) + '"'``: the member's comma, its key and the string's quote."""
    return append(prepend(prefix, escaped(values)), suffix)


def prepend(prefix: str, values: pa.Array) -> pa.Array:
    """``prefix + value`` where a value is present (null stays null)."""
    return pc.binary_replace_slice(values, start=0, stop=0, replacement=prefix)


def append(values: pa.Array, suffix: str) -> pa.Array:
    """``value + suffix`` where a value is present (null stays null)."""
    return pc.binary_replace_slice(values, start=1 << 30, stop=1 << 30, replacement=suffix)


def concat(*parts: pa.Array | str) -> pa.Array:
    """The parts joined row by row, absent (null) parts skipped; constant strings appear in every row.

    Nulls are replaced by "" rather than skipped (the same with no separator): pyarrow 26's
    ``null_handling="skip"`` drops the rows where every part is null, returning a shorter array."""
    return pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")


def group(opening: str, members: list[pa.Array], closing: str) -> pa.Array | None:
    """A nested object or array holding the members present in the row, null where none is.

    ``opening`` replaces the first member's comma (e.g. ``',"custom_fields":{'``) and ``closing`` ends it.
    None when there are no members at all (the key never appears)."""
    if not members:
        return None
    joined = present(concat(*members))
    return append(pc.binary_replace_slice(joined, start=0, stop=1, replacement=opening), closing)


def when(condition: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` where ``condition`` holds, null elsewhere."""
    return pc.if_else(condition, values, _NULL)


def all_present(columns: list[pa.Array], length: int) -> pa.Array:
    """True in the rows where every column holds a value (all rows for no columns)."""
    condition = pa.array([True] * length) if not columns else columns[0].is_valid()
    for column in columns[1:]:
        condition = pc.and_(condition, column.is_valid())
    return condition


def as_binary(encoded: pa.Array) -> pa.Array:
    """The encoded rows as ``binary`` (what ``encode_contact`` returns is bytes); no copy."""
    return encoded.view(pa.binary())
