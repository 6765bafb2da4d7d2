"""Brevo contacts a column at a time (``BrevoDestination.encode_batch``), byte for byte as
``encode_contact``: ``{"email", "attributes": {Brevo attribute name: value, in mapping order}}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from destinations.brevo.constants import attribute_name
from destinations.columnar import as_binary, batch_columns, concat, escaped, group, key, member


def encode_batch(emails: pa.Array, attributes: Mapping[str, pa.Array], names: Mapping[str, str]) -> pa.Array | None:
    """The encoded contacts, or None when two attributes share a Brevo name (``first_name`` and a custom
    ``firstname``, say: the per-row encoder decides then). ``names`` maps a mapped attribute to its Brevo
    name; any other attribute gets ``attribute_name``, as in ``encode_contact``."""
    email_column, columns = batch_columns(emails, attributes)
    brevo_names = [names.get(name, attribute_name(name)) for name in columns]
    if len(set(brevo_names)) != len(brevo_names):
        return None
    members = [
        member("," + key(brevo) + '"', values) for brevo, values in zip(brevo_names, columns.values(), strict=True)
    ]
    nested = group("," + key("attributes") + "{", members, "}")
    parts = ["{" + key("email") + '"', escaped(email_column), '"', *([nested] if nested is not None else []), "}"]
    return as_binary(concat(*parts))
