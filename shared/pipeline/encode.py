"""From change rows to what an adapter takes: encoded payloads for a whole table at once, and the
``ContactBatch`` of one batch (just before it is sent: its emails as a list, its attributes as columns)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from destinations.base import ContactBatch, Destination
from shared.pipeline import records


def encode_changes(destination: Destination, changes: pa.Table, attributes: Sequence[str]) -> pa.Array:
    """The vendor encoding of every row (``Destination.encode_batch``), one element per row."""
    columns = {name: changes.column(records.attribute_column(name)).combine_chunks() for name in attributes}
    return destination.encode_batch(changes.column(records.EMAIL).combine_chunks(), columns)


def contacts(table: pa.Table, attributes: Sequence[str], *, with_attributes: bool = True) -> ContactBatch:
    """Contacts of change rows (attributes without empty values, in mapped order) or of snapshot entries
    (email and vendor id: what a removal needs), as a ``ContactBatch``: columns, no object per row."""
    emails = table.column(records.EMAIL).combine_chunks()
    vendor_ids = [v or None for v in table.column(records.VENDOR_ID).to_pylist()]
    columns = (
        {name: table.column(records.attribute_column(name)).combine_chunks() for name in attributes}
        if with_attributes
        else {}
    )
    return ContactBatch(emails.to_pylist(), vendor_ids, columns, emails)


def email_contacts(emails: list[str]) -> ContactBatch:
    """Email-only contacts: what polling needs to map a job's answer back to rows."""
    return ContactBatch(emails)
