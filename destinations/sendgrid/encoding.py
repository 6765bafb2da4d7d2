"""SendGrid contacts a column at a time (``SendGridDestination.encode_batch``), byte for byte as
``encode_contact``: ``{"email", the reserved fields in mapping order, "custom_fields": {field id: value}}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from destinations.columnar import as_binary, batch_columns, concat, escaped, escaped_bound, group, key, member
from destinations.sendgrid.constants import RESERVED


def encode_batch(
    emails: pa.Array, attributes: Mapping[str, pa.Array], field_ids: Mapping[str, str] | None
) -> pa.Array | None:
    """The encoded contacts, or None when two attributes share a field id (the per-row encoder decides
    then). ``field_ids`` is what ``prepare()`` read: custom name → field id, None before it ran.

    Raises RuntimeError, as ``encode_contact``, when a custom value is present and ``field_ids`` is None."""
    email_column, columns = batch_columns(emails, attributes)
    reserved: list[pa.Array] = []
    custom: list[pa.Array] = []
    custom_ids: list[str] = []
    for name, values in columns.items():
        if name in RESERVED:
            reserved.append(member("," + key(RESERVED[name]) + '"', values))
        elif field_ids is None:
            if values.null_count < len(values):
                raise RuntimeError("prepare() must run before contacts with custom fields are encoded")
        elif name in field_ids:  # a custom attribute without a field id is left out, as encode_contact does
            custom_ids.append(field_ids[name])
            custom.append(member("," + key(field_ids[name]) + '"', values))
    if len(set(custom_ids)) != len(custom_ids):
        return None
    custom_fields = group("," + key("custom_fields") + "{", custom, "}")
    parts = ["{" + key("email") + '"', escaped(email_column), '"', *reserved]
    if custom_fields is not None:
        parts.append(custom_fields)
    parts.append("}")
    return as_binary(concat(*parts))


def size_bounds(
    emails: pa.Array, attributes: Mapping[str, pa.Array], field_ids: Mapping[str, str] | None
) -> pa.Array | None:
    """An upper bound of each row's ``encode_batch`` length: every member the row may hold, with its
    comma, key and quotes, and its value's ``escaped_bound``; ``custom_fields`` counted whenever a custom
    field is mapped. None where ``encode_batch`` raises (custom values before ``prepare()``)."""
    email_column, columns = batch_columns(emails, attributes)
    total = len("{" + key("email") + '""}') + escaped_bound(email_column)
    customs = 0
    for name, values in columns.items():
        if name in RESERVED:
            member_key = RESERVED[name]
        elif field_ids is None:
            if values.null_count < len(values):
                return None
            continue
        elif name in field_ids:
            member_key = field_ids[name]
            customs += 1
        else:
            continue
        present = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        total = total + np.where(present, len("," + key(member_key) + '""') + escaped_bound(values), 0)
    if customs:
        total = total + len("," + key("custom_fields") + "{}")
    return pa.array(np.asarray(total, dtype=np.int64))
