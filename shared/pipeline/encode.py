"""From change rows to what an adapter takes: encoded payloads for a whole table at once, and ``Contact``
objects for the rows of one batch only (just before it is sent, so a run never holds a Python object per
profile)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from destinations.base import Contact, Destination
from shared.pipeline import records


def encode_changes(destination: Destination, changes: pa.Table, attributes: Sequence[str]) -> pa.Array:
    """The vendor encoding of every row (``Destination.encode_batch``), one element per row."""
    columns = {name: changes.column(records.attribute_column(name)).combine_chunks() for name in attributes}
    return destination.encode_batch(changes.column(records.EMAIL).combine_chunks(), columns)


def contacts(table: pa.Table, attributes: Sequence[str], *, with_attributes: bool = True) -> list[Contact]:
    """Contacts of change rows (attributes without empty values, in mapped order) or of snapshot entries
    (email and vendor id: what a removal needs)."""
    emails = table.column(records.EMAIL).to_pylist()
    vendor_ids = table.column(records.VENDOR_ID).to_pylist()
    if not with_attributes or not attributes:
        return [Contact(email, {}, vendor_id or None) for email, vendor_id in zip(emails, vendor_ids, strict=True)]
    names = list(attributes)
    columns = [table.column(records.attribute_column(name)) for name in names]
    # Most rows have every value: ``dict(zip(...))`` builds those in C; only rows with an empty value
    # take the filtering comprehension (an empty value is not sent).
    gaps = pc.equal(columns[0], "")
    for column in columns[1:]:
        gaps = pc.or_(gaps, pc.equal(column, ""))
    found: list[Contact] = []
    append = found.append
    for email, vendor_id, gap, values in zip(
        emails, vendor_ids, gaps.to_pylist(), zip(*(c.to_pylist() for c in columns), strict=True), strict=True
    ):
        attrs = (
            {n: v for n, v in zip(names, values, strict=True) if v} if gap else dict(zip(names, values, strict=True))
        )
        append(Contact(email, attrs, vendor_id or None))
    return found


def email_contacts(emails: Sequence[str]) -> list[Contact]:
    """Email-only contacts: what polling needs to map a job's answer back to rows."""
    return [Contact(email) for email in emails]
