"""Mailchimp members a column at a time (``MailchimpDestination.encode_batch``), byte for byte as
``encode_contact``: ``{"email_address", "merge_fields": {tag: value in mapping order, then "ADDRESS"}}``.
The ``ADDRESS`` object (``addr1`` and the parts, in mapping order) is sent only in the rows holding every
one of ``ADDRESS_REQUIRED``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from destinations.columnar import all_present, as_binary, batch_columns, concat, escaped, group, key, member, when
from destinations.mailchimp.constants import ADDRESS_PARTS, ADDRESS_REQUIRED


def encode_batch(emails: pa.Array, attributes: Mapping[str, pa.Array], tags: Mapping[str, str]) -> pa.Array | None:
    """The encoded members, or None when the per-row encoder must decide: two attributes sharing a merge
    tag (``first_name`` and a custom ``FNAME``), or an attribute tagged ``ADDRESS`` that is no part of an
    address. ``tags`` maps an attribute to its merge tag (``merge_tags_for``); others keep their name."""
    email_column, columns = batch_columns(emails, attributes)
    merge_tags: list[str] = []
    merge: list[pa.Array] = []
    address: dict[str, pa.Array] = {}  # ADDRESS sub-key → its column, in mapping order
    for name, values in columns.items():
        tag = tags.get(name, name)
        if tag != "ADDRESS":
            merge_tags.append(tag)
            merge.append(member("," + key(tag) + '"', values))
        elif name == "address" or name in ADDRESS_PARTS:
            address["addr1" if name == "address" else ADDRESS_PARTS[name]] = values
        else:
            return None
    if len(set(merge_tags)) != len(merge_tags):
        return None
    if address and all(k in address for k in ADDRESS_REQUIRED):
        members = [member("," + key(k) + '"', values) for k, values in address.items()]
        nested = group("," + key("ADDRESS") + "{", members, "}")
        complete = all_present([address[k] for k in ADDRESS_REQUIRED], len(email_column))
        if nested is not None:
            merge.append(when(complete, nested))
    merge_fields = group("," + key("merge_fields") + "{", merge, "}")
    parts: list[pa.Array | str] = ["{" + key("email_address") + '"', escaped(email_column), '"']
    if merge_fields is not None:
        parts.append(merge_fields)
    parts.append("}")
    return as_binary(concat(*parts))
