"""Campaign Monitor subscribers a column at a time (``CampaignMonitorDestination.encode_batch``), byte for
byte as ``encode_contact``: ``EmailAddress``, ``Name`` (the name parts present, joined by a space; always
there, possibly empty), ``ConsentToTrack``, then ``CustomFields`` as ``[{"Key", "Value"}]`` in mapping order.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from destinations.campaign_monitor.constants import NAME_PARTS, field_key
from destinations.columnar import as_binary, batch_columns, concat, escaped, group, key, literal, member, prepend


def encode_batch(emails: pa.Array, attributes: Mapping[str, pa.Array]) -> pa.Array:
    """The encoded subscribers."""
    email_column, columns = batch_columns(emails, attributes)
    first, last = (columns.get(p) for p in NAME_PARTS)  # first then last, whatever the mapping's order
    name = escaped(_name(first, last)) if first is not None or last is not None else ""
    custom = [
        member(",{" + key("Key") + literal(field_key(k)) + "," + key("Value") + '"', values, '"}')
        for k, values in columns.items()
        if k not in NAME_PARTS
    ]
    nested = group("," + key("CustomFields") + "[", custom, "]")
    pieces: list[pa.Array | str] = [
        "{" + key("EmailAddress") + '"',
        escaped(email_column),
        '",' + key("Name") + '"',
        name,
        '",' + key("ConsentToTrack") + literal("Unchanged"),
    ]
    if nested is not None:
        pieces.append(nested)
    pieces.append("}")
    return as_binary(concat(*pieces))


def _name(first: pa.Array | None, last: pa.Array | None) -> pa.Array:
    """The name parts present joined by a space; "" when none (an empty Name is still sent). Not
    ``binary_join_element_wise(..., " ", null_handling="skip")``: pyarrow 26 drops its all-null rows."""
    if first is not None and last is not None:
        last = pc.if_else(first.is_valid(), prepend(" ", last), last)
    return concat(*(part for part in (first, last) if part is not None))
