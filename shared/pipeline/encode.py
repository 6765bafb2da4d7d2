"""From change rows to what an adapter takes: encoded payloads for a whole table at once, and ``Contact``
objects for the rows of one batch only (just before it is sent, so a run never holds a Python object per
profile)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

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
    columns = [table.column(records.attribute_column(name)).to_pylist() for name in names]
    return [
        Contact(email, {name: value for name, value in zip(names, values, strict=True) if value}, vendor_id or None)
        for email, vendor_id, *values in zip(emails, vendor_ids, *columns, strict=True)
    ]


def email_contacts(emails: Sequence[str]) -> list[Contact]:
    """Email-only contacts: what polling needs to map a job's answer back to rows."""
    return [Contact(email) for email in emails]
