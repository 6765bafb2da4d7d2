"""Omnisend contacts a column at a time (``OmnisendDestination.encode_batch``), byte for byte as
``encode_contact``: the email identifier (with the export's status and its time), the phone identifier
when there is a phone, the export's tag, the standard fields in mapping order, then ``customProperties``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from destinations.columnar import as_binary, batch_columns, concat, escaped, group, key, literal, member
from destinations.omnisend.constants import FIELDS


def encode_batch(
    emails: pa.Array, attributes: Mapping[str, pa.Array], *, status: str, status_at: str, tag: str
) -> pa.Array:
    """The encoded contacts: ``status`` is the export's status for new contacts, ``status_at`` the
    adapter's ``statusChangedAt``, ``tag`` the tag that stands for the list."""
    email_column, columns = batch_columns(emails, attributes)
    channels = "{" + key("email") + "{" + key("status") + literal(status) + "," + key("statusChangedAt")
    channels += literal(status_at) + "}}"
    no_welcome = "," + key("sendWelcomeMessage") + "false}"
    head = "{" + key("identifiers") + "[{" + key("type") + literal("email") + "," + key("id") + '"'
    after_email = '",' + key("channels") + channels + no_welcome
    phone_head = ",{" + key("type") + literal("phone") + "," + key("id") + '"'
    parts: list[pa.Array | str] = [head, escaped(email_column), after_email]
    phone = columns.get("phone")
    if phone is not None:
        parts.append(member(phone_head, phone, '"' + no_welcome))
    parts.append("]," + key("tags") + literal([tag]))
    custom: list[pa.Array] = []
    for name, values in columns.items():
        if name in FIELDS:
            parts.append(member("," + key(FIELDS[name]) + '"', values))
        elif name != "phone":
            custom.append(member("," + key(name) + '"', values))
    nested = group("," + key("customProperties") + "{", custom, "}")
    if nested is not None:
        parts.append(nested)
    parts.append("}")
    return as_binary(concat(*parts))
