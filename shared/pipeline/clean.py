"""Normalise and validate a batch of rows at once — the pure step between reading a file and staging it.

The rules are those of ``shared.pipeline.normalise`` (one address rule, one phone rule), applied with
Arrow's string kernels to ASCII values. Values with other characters take the scalar functions row by
row, so Python's own ``str.strip``/``str.lower`` decide for them exactly as before: such values are a
small share of real data, and the two paths give the same result by construction, not by approximation.

What it returns for a batch: the staged rows (normalised email, CRC-32 key, attribute hash, source part
and line, cleaned values) and, for each row refused, its line, its email as written and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shared.arrow_bytes import value_bytes
from shared.pipeline import records
from shared.pipeline.normalise import email_problem, normalise_phone

MALFORMED = "malformed email address"
# No vendor documents accepting internationalised addresses (vendors.md), so they are invalid rather
# than converted; it also means a look-alike (Cyrillic "а") is never merged with its ASCII twin.
NON_ASCII = "malformed email address: it has non-ASCII characters, which the vendors do not document accepting"
NO_EMAIL = "no email address"
TOO_LONG = "email address longer than 254 characters"
PHONE_PROBLEM = "phone number must include the country code, e.g. +14155550100"

# What ``str.strip()`` removes from an ASCII string (it counts U+001C..U+001F as whitespace too).
_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
# The address rule of ``normalise.email_problem`` (RE2 reads it the same way: no look-arounds).
_EMAIL_RE = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_E164_RE = r"^\+[1-9][0-9]{6,14}$"
# A record with one of these in a value had every value's whitespace collapsed: a value may never split
# a staged record (the rule of the text staging files, kept so the values sent do not change).
_BREAKS_RE = "[\r\n\x1f]"


@dataclass(slots=True)
class CleanBatch:
    staged: pa.Table  # records.staged_schema
    refused_lines: list[int]
    refused_emails: list[str]
    refused_reasons: list[str]


def _strip(column: pa.Array) -> pa.Array:
    """``str.strip()`` of every value: vectorised for ASCII values, Python's own for the others."""
    stripped = pc.utf8_trim(column, characters=_ASCII_SPACE)
    ascii_values = pc.string_is_ascii(column)
    if pc.all(ascii_values).as_py() is not False:
        return stripped
    others = pc.invert(ascii_values)
    fixed = [value.strip() for value in column.filter(others).to_pylist()]
    return pc.replace_with_mask(stripped, others, pa.array(fixed, pa.string()))


def _scatter(column: pa.Array, rows: np.ndarray, values: list[str]) -> pa.Array:
    if not len(rows):
        return column
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(column, pa.array(mask), pa.array(values, pa.string()))


def _emails(raw: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(normalised emails, reason index per row: 0 valid, 1 none, 2 too long, 3 malformed, 4 non-ASCII)."""
    ascii_values = pc.string_is_ascii(raw)
    all_ascii = pc.all(ascii_values).as_py() is not False
    email = pc.ascii_lower(pc.utf8_trim(raw, characters=_ASCII_SPACE))
    if not all_ascii:
        others = np.flatnonzero(~np.asarray(ascii_values.to_numpy(zero_copy_only=False), dtype=bool))
        email = _scatter(email, others, [v.strip().lower() for v in raw.take(pa.array(others)).to_pylist()])
    length = np.asarray(pc.utf8_length(email).to_numpy(zero_copy_only=False))
    shaped = np.asarray(pc.match_substring_regex(email, _EMAIL_RE).to_numpy(zero_copy_only=False), dtype=bool)
    reason = np.zeros(len(raw), dtype=np.int8)
    reason[~shaped] = 3
    reason[length > 254] = 2
    reason[length == 0] = 1
    if not all_ascii:
        non_ascii = ~np.asarray(pc.string_is_ascii(email).to_numpy(zero_copy_only=False), dtype=bool)
        reason[non_ascii & (reason == 3)] = 4
    return email, reason


_EMAIL_REASONS = ("", NO_EMAIL, TOO_LONG, MALFORMED, NON_ASCII)


def _phones(raw: pa.Array, candidates: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """(normalised phones, rows whose phone is refused) — ``normalise_phone`` on every non-empty value."""
    ascii_values = np.asarray(pc.string_is_ascii(raw).to_numpy(zero_copy_only=False), dtype=bool)
    phone = pc.utf8_trim(raw, characters=_ASCII_SPACE)
    phone = pc.replace_substring_regex(phone, "^00", "+", max_replacements=1)
    phone = pc.replace_substring_regex(phone, r"[ ()\-./]", "")
    empty = np.asarray(pc.equal(pc.utf8_length(phone), 0).to_numpy(zero_copy_only=False), dtype=bool)
    good = np.asarray(pc.match_substring_regex(phone, _E164_RE).to_numpy(zero_copy_only=False), dtype=bool)
    refused = candidates & ~empty & ~good
    others = np.flatnonzero(~ascii_values & candidates)
    if len(others):
        results = [normalise_phone(v) for v in raw.take(pa.array(others)).to_pylist()]
        phone = _scatter(phone, others, [text for text, _ in results])
        refused[others] = [problem is not None for _, problem in results]
    return phone, refused


def clean_batch(lines: pa.Array, columns: Sequence[pa.Array], attributes: Sequence[str], part: int) -> CleanBatch:
    """Normalise and validate one batch of rows read from source part ``part``.

    ``columns`` are the mapped columns as read (email first, then one per attribute, in ``attributes``
    order). Pure: no storage, no clock; the same batch always gives the same result.
    """
    n = len(lines)
    email, reason = _emails(columns[0])
    reasons = [_EMAIL_REASONS[r] for r in range(len(_EMAIL_REASONS))]
    values = list(columns[1:])
    if "phone" in attributes:
        at = list(attributes).index("phone")
        raw = values[at]
        candidates = (reason == 0) & np.asarray(pc.not_equal(raw, "").to_numpy(zero_copy_only=False), dtype=bool)
        phone, refused = _phones(raw, candidates)
        reason[refused] = len(reasons)
        reasons.append(PHONE_PROBLEM)
        # Only rows whose phone was looked at take the normalised value (as before: valid emails only).
        values[at] = pc.if_else(pa.array(candidates), phone, raw)
    valid = reason == 0
    refused_rows = np.flatnonzero(~valid)
    refused_lines = lines.take(pa.array(refused_rows)).to_pylist()
    refused_emails = columns[0].take(pa.array(refused_rows)).to_pylist()
    refused_reasons = [reasons[r] for r in reason[refused_rows]]

    keep = pa.array(valid)
    email = email.filter(keep)
    kept_lines = lines.filter(keep)
    values = [v.filter(keep) for v in values]
    values = _clean_values(values)
    staged = pa.Table.from_arrays(
        [
            email,
            records.email_keys(email),
            records.attribute_hashes(values, len(email)),
            pa.array(np.full(len(email), part, dtype=np.int32)),
            kept_lines.cast(pa.int64()),
            *values,
        ],
        schema=records.staged_schema(attributes),
    )
    assert staged.num_rows + len(refused_rows) == n  # nosec B101  # every row has one outcome
    return CleanBatch(staged, refused_lines, refused_emails, refused_reasons)


def _may_break(column: pa.Array) -> bool:
    """Whether any value's bytes hold a line break or U+001F (a ``string`` array; others are not looked into)."""
    if column.type != pa.string():
        return True
    data = value_bytes(column)
    return b"\n" in data or b"\r" in data or b"\x1f" in data


def _clean_values(values: list[pa.Array]) -> list[pa.Array]:
    """Each value stripped; in a row where any value holds a line break or U+001F, every value's
    whitespace runs collapsed to one space (``" ".join(v.split())``), as the text staging did."""
    if not values:
        return values
    cleaned = [_strip(column) for column in values]
    broken = np.zeros(len(values[0]), dtype=bool)
    for original, column in zip(values, cleaned, strict=True):
        # A column whose bytes hold no break at all cannot hold one once stripped: one memchr pass over
        # its bytes instead of a regex over every value (the regex costs 8x as much, and most data is clean).
        if not _may_break(original):
            continue
        # After stripping, as the text staging looked at the stripped record.
        broken |= np.asarray(pc.match_substring_regex(column, _BREAKS_RE).to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(broken)
    if len(rows):
        taken = pa.array(rows)
        cleaned = [
            _scatter(column, rows, [" ".join(v.split()) for v in original.take(taken).to_pylist()])
            for column, original in zip(cleaned, values, strict=True)
        ]
    return cleaned


__all__ = ["MALFORMED", "NON_ASCII", "CleanBatch", "clean_batch", "email_problem"]
