"""``encode_batch`` against ``encode_contact``: for every vendor, the columnar encoder must give the bytes the
per-row encoder gives, row for row, over generated contacts (many mappings and attribute orders, empty and
null values, non-ASCII, emoji, quotes, backslashes, every control character, very long values)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import orjson
import pyarrow as pa
import pytest
from pydantic import SecretStr

from destinations.base import STANDARD_ATTRIBUTES, Contact, Credential, Destination, Target
from destinations.brevo.adapter import BrevoDestination
from destinations.campaign_monitor.adapter import CampaignMonitorDestination
from destinations.columnar import escaped
from destinations.mailchimp.adapter import MailchimpDestination
from destinations.omnisend.adapter import OmnisendDestination
from destinations.sendgrid.adapter import SendGridDestination
from destinations.sendgrid.constants import RESERVED

# Characters that JSON escapes or that a careless encoder gets wrong, next to ordinary ones.
ALPHABET = [
    *"aZ0 .-@'/{}:,",
    "é",
    "ß",
    "李",
    "😀",
    "👩‍👩‍👧",
    '"',
    "\\",
    "\x7f",
    "\u2028",
    "\u2029",
    "\ufeff",
    *(chr(c) for c in range(0x20)),
]
SPECIAL = [
    'say "hi"',
    "C:\\path\\",
    '\\"',
    "line\nbreak",
    "\x00",
    "tab\tand\rreturn",
    "Zoë 😀",
    "null",
    " ",
    "x" * 10_000,
    "é" * 3_000 + '"',
]
WORDS = ["Ann", "Lee", "Main Street 1", "Springfield", "IL", "62704", "US", "+15555550100", "gold"]


def value(rng: random.Random, style: str) -> str | None:
    """A value of a column whose values are ``plain`` (nothing to escape), ``mixed`` or ``hostile``."""
    roll = rng.random()
    if roll < 0.2:
        return ""
    if roll < 0.25:
        return None
    if style == "plain" or (style == "mixed" and roll < 0.7):
        return rng.choice(WORDS)
    if roll < 0.5:
        return rng.choice(SPECIAL)
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))


def email(rng: random.Random, i: int) -> str:
    if rng.random() < 0.1:
        return f'odd"{rng.choice(ALPHABET)}\\{i}@exämple.com'
    return f"customer{i:07d}@example.com"


def columns(rng: random.Random, names: Sequence[str], rows: int) -> tuple[pa.Array, dict[str, pa.Array], list[Contact]]:
    """Arrow columns and the contacts ``read_rows`` would build from the same values."""
    emails = [email(rng, i) for i in range(rows)]
    styles = {name: rng.choice(["plain", "mixed", "hostile"]) for name in names}
    values = {name: [value(rng, styles[name]) for _ in range(rows)] for name in names}
    contacts = [Contact(emails[i], {n: values[n][i] for n in names if values[n][i]}) for i in range(rows)]  # type: ignore[misc]
    return pa.array(emails, pa.string()), {n: pa.array(v, pa.string()) for n, v in values.items()}, contacts


def credential(vendor: type[Destination]) -> Credential:
    return Credential(SecretStr("key-us1" if vendor is MailchimpDestination else "key"))


def build(vendor: type[Destination], names: Sequence[str], **target: str) -> Destination:
    """An adapter that sends nothing (as the contract tests build one), with the state ``prepare()`` sets."""
    dest = vendor(
        client=None,  # type: ignore[arg-type]  # nothing is sent
        credential=credential(vendor),
        target=Target(target.get("list_id", "list-1"), tuple(names), target.get("status", "subscribed")),
    )
    if isinstance(dest, SendGridDestination):
        # Field ids as SendGrid names them, one with characters a JSON key must escape; the last custom
        # attribute has no id at all (encode_contact leaves it out).
        custom = [n for n in names if n not in RESERVED]
        dest._field_ids = {n: f'e{i}"\\é' if i == 1 else f"e{i}_T" for i, n in enumerate(custom[:-1])}
    return dest


CUSTOM: dict[type[Destination], tuple[str, ...]] = {
    SendGridDestination: ("loyalty_tier", "w.score", "signup-source"),
    MailchimpDestination: ("MMERGE5", "LOYALTY", "BDAY"),
    BrevoDestination: ("loyalty", "AGE", "plan.name"),
    OmnisendDestination: ("loyalty", "birth.date", "Plan-Name"),
    CampaignMonitorDestination: ("[Loyalty]", "Plan-Name", "score"),
}
VENDORS = list(CUSTOM)


def expected(dest: Destination, contacts: Sequence[Contact]) -> list[bytes]:
    return [dest.encode_contact(c) for c in contacts]


def check(dest: Destination, emails: pa.Array, attrs: dict[str, pa.Array], contacts: Sequence[Contact]) -> None:
    encoded = dest.encode_batch(emails, attrs)
    assert encoded.type == pa.binary()
    assert len(encoded) == len(contacts)
    got = [bytes(b) for b in encoded.to_pylist()]
    for i, (row, want) in enumerate(zip(got, expected(dest, contacts), strict=True)):
        assert row == want, f"row {i}: {contacts[i]!r}"


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.vendor)
@pytest.mark.parametrize("seed", range(40))
def test_encode_batch_equals_encode_contact_for_random_mappings(vendor: type[Destination], seed: int) -> None:
    rng = random.Random(f"{vendor.vendor}-{seed}")
    universe = [*STANDARD_ATTRIBUTES, *CUSTOM[vendor]]
    names = rng.sample(universe, rng.randint(0, len(universe)))  # a subset, in a random mapping order
    emails, attrs, contacts = columns(rng, names, rng.choice([1, 7, 120]))
    check(build(vendor, names), emails, attrs, contacts)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.vendor)
@pytest.mark.parametrize("style", ["plain", "hostile"])
def test_every_attribute_mapped_in_both_orders(vendor: type[Destination], style: str) -> None:
    rng = random.Random(f"{vendor.vendor}-{style}")
    for names in ([*STANDARD_ATTRIBUTES, *CUSTOM[vendor]], [*CUSTOM[vendor], *reversed(STANDARD_ATTRIBUTES)]):
        rows = 400
        emails = pa.array([f"c{i}@example.com" for i in range(rows)])
        values = {n: [value(rng, style) if i % 9 else "" for i in range(rows)] for n in names}
        contacts = [Contact(f"c{i}@example.com", {n: values[n][i] for n in names if values[n][i]}) for i in range(rows)]  # type: ignore[misc]
        check(build(vendor, names), emails, {n: pa.array(v, pa.string()) for n, v in values.items()}, contacts)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.vendor)
def test_every_character_below_0x80_and_a_few_beyond_in_every_attribute(vendor: type[Destination]) -> None:
    names = [*STANDARD_ATTRIBUTES, *CUSTOM[vendor]]
    chars = [chr(c) for c in range(0x80)] + ["é", "😀", "\u2028", "\U0010ffff"]
    emails = pa.array([f"c{i}@example.com" for i in range(len(chars))])
    attrs = {n: pa.array([f"{c}{n}{c}" for c in chars]) for n in names}
    contacts = [Contact(f"c{i}@example.com", {n: f"{c}{n}{c}" for n in names}) for i, c in enumerate(chars)]
    check(build(vendor, names), emails, attrs, contacts)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.vendor)
def test_sliced_chunked_and_large_string_columns(vendor: type[Destination]) -> None:
    """Columns that are views into larger buffers, or of another string type, encode the same."""
    rng = random.Random(vendor.vendor)
    names = [*STANDARD_ATTRIBUTES, *CUSTOM[vendor]]
    emails, attrs, contacts = columns(rng, names, 300)
    dest = build(vendor, names)
    check(dest, emails.slice(50, 200), {n: a.slice(50, 200) for n, a in attrs.items()}, contacts[50:250])
    chunked = {n: pa.chunked_array([a.slice(0, 100), a.slice(100)]) for n, a in attrs.items()}
    check(dest, emails.cast(pa.large_string()), chunked, contacts)  # type: ignore[arg-type]


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.vendor)
def test_no_rows_and_no_attributes(vendor: type[Destination]) -> None:
    dest = build(vendor, [])
    check(dest, pa.array([], pa.string()), {}, [])
    check(dest, pa.array(["a@example.com"]), {}, [Contact("a@example.com")])


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.vendor)
def test_unequal_lengths_and_null_emails_are_refused(vendor: type[Destination]) -> None:
    dest = build(vendor, ["first_name"])
    with pytest.raises(ValueError, match="rows"):
        dest.encode_batch(pa.array(["a@example.com"]), {"first_name": pa.array(["A", "B"])})
    with pytest.raises(ValueError, match="null"):
        dest.encode_batch(pa.array(["a@example.com", None]), {"first_name": pa.array(["A", "B"])})
    with pytest.raises(ValueError, match="null"):
        Destination.encode_batch(dest, pa.array([None], pa.string()), {})


def test_omnisend_constants_with_characters_to_escape() -> None:
    """The status, its time and the tag are written as orjson writes them."""
    rng = random.Random(3)
    names = ["phone", "first_name", "loyalty"]
    dest = build(OmnisendDestination, names, list_id='tag "vip" \\ é', status="non_subscribed")
    assert isinstance(dest, OmnisendDestination)
    dest._status_at = "2026-11-26T02:00:00Z"
    emails, attrs, contacts = columns(rng, names, 200)
    check(dest, emails, attrs, contacts)


def test_campaign_monitor_name_from_either_part() -> None:
    """Name is the parts present in first-then-last order, whatever the mapping order; empty when none."""
    dest = build(CampaignMonitorDestination, ["last_name", "Plan-Name", "first_name"])
    emails = pa.array(["a@x.io", "b@x.io", "c@x.io", "d@x.io"])
    attrs = {
        "last_name": pa.array(["Lee", "", "Lee", None]),
        "Plan-Name": pa.array(["", "gold", None, "x"]),
        "first_name": pa.array(["Ann", "Ann", "", None]),
    }
    contacts = [
        Contact("a@x.io", {"last_name": "Lee", "first_name": "Ann"}),
        Contact("b@x.io", {"Plan-Name": "gold", "first_name": "Ann"}),
        Contact("c@x.io", {"last_name": "Lee"}),
        Contact("d@x.io", {"Plan-Name": "x"}),
    ]
    check(dest, emails, attrs, contacts)
    assert b'"Name":"Ann Lee"' in bytes(dest.encode_batch(emails, attrs)[0].as_py())
    assert b'"Name":""' in bytes(dest.encode_batch(emails, attrs)[3].as_py())


def test_mailchimp_address_only_when_every_required_part_is_there() -> None:
    names = ["country", "address", "first_name", "city", "state", "postal_code", "LOYALTY"]
    dest = build(MailchimpDestination, names)
    rows = [
        {"address": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62704", "country": "US"},
        {"address": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62704"},
        {"address": "1 Main St", "city": "Springfield", "state": "IL", "country": "US", "first_name": "Ann"},
        {"city": "Springfield", "LOYALTY": "gold"},
        {},
    ]
    emails = pa.array([f"r{i}@x.io" for i in range(len(rows))])
    attrs = {n: pa.array([r.get(n, "") for r in rows]) for n in names}
    contacts = [Contact(f"r{i}@x.io", {n: r[n] for n in names if n in r}) for i, r in enumerate(rows)]
    check(dest, emails, attrs, contacts)
    encoded = [bytes(b) for b in dest.encode_batch(emails, attrs).to_pylist()]
    assert b'"ADDRESS":{"country":"US","addr1":"1 Main St"' in encoded[0]
    assert all(b"ADDRESS" not in e for e in encoded[2:])


def test_mailchimp_plain_part_tags_without_an_address() -> None:
    names = ["city", "state", "postal_code", "country", "phone"]
    rng = random.Random(5)
    emails, attrs, contacts = columns(rng, names, 150)
    check(build(MailchimpDestination, names), emails, attrs, contacts)


@pytest.mark.parametrize(
    ("vendor", "names"),
    [
        (MailchimpDestination, ["first_name", "FNAME", "LOYALTY"]),  # two attributes, one merge tag
        (MailchimpDestination, ["FNAME", "last_name", "first_name"]),
        (BrevoDestination, ["first_name", "firstname", "age"]),  # both are Brevo's FIRSTNAME
        (BrevoDestination, ["loyalty", "LOYALTY"]),
    ],
)
def test_attributes_sharing_a_vendor_name_encode_as_encode_contact(vendor: type[Destination], names: list[str]) -> None:
    """The key keeps the first present attribute's place and the last one's value, as a dict does."""
    rng = random.Random(str(names))
    emails, attrs, contacts = columns(rng, names, 200)
    check(build(vendor, names), emails, attrs, contacts)


def test_sendgrid_attributes_sharing_a_field_id() -> None:
    names = ["first_name", "tier", "level"]
    dest = build(SendGridDestination, names)
    assert isinstance(dest, SendGridDestination)
    dest._field_ids = {"tier": "e1", "level": "e1"}
    emails, attrs, contacts = columns(random.Random(8), names, 200)
    check(dest, emails, attrs, contacts)


def test_sendgrid_custom_values_before_prepare_raise_as_encode_contact() -> None:
    dest = build(SendGridDestination, ["first_name", "tier"])
    assert isinstance(dest, SendGridDestination)
    dest._field_ids = None
    emails = pa.array(["a@x.io", "b@x.io"])
    # No custom value present: nothing needs the ids, as encode_contact.
    check(
        dest,
        emails,
        {"first_name": pa.array(["A", ""]), "tier": pa.array(["", None])},
        [
            Contact("a@x.io", {"first_name": "A"}),
            Contact("b@x.io"),
        ],
    )
    with pytest.raises(RuntimeError, match="prepare"):
        dest.encode_contact(Contact("b@x.io", {"tier": "gold"}))
    with pytest.raises(RuntimeError, match="prepare"):
        dest.encode_batch(emails, {"first_name": pa.array(["A", ""]), "tier": pa.array(["", "gold"])})


def test_mailchimp_custom_attribute_named_address_raises_as_encode_contact() -> None:
    dest = build(MailchimpDestination, ["ADDRESS"])
    with pytest.raises(KeyError):
        dest.encode_contact(Contact("a@x.io", {"ADDRESS": "1 Main St"}))
    with pytest.raises(KeyError):
        dest.encode_batch(pa.array(["a@x.io"]), {"ADDRESS": pa.array(["1 Main St"])})


@pytest.mark.parametrize("text", ["plain", 'q"', "b\\", "\x00\x1f\n", "é😀\u2028\x7f", "", 'a\\"b\\\\'])
def test_escaped_is_what_orjson_writes_inside_the_quotes(text: str) -> None:
    column = pa.array(["ok", text, None, text + "x"])
    assert escaped(column).to_pylist() == [
        "ok",
        orjson.dumps(text)[1:-1].decode(),
        None,
        orjson.dumps(text + "x")[1:-1].decode(),
    ]


@pytest.mark.parametrize("every", [1, 3, 97, 1_000])
def test_escaped_whether_few_or_many_rows_need_it(every: int) -> None:
    """Few rows to escape take orjson row by row, many take the replace kernels: the same bytes."""
    rng = random.Random(every)
    texts: list[str | None] = [
        None if i % 11 == 5 else "".join(rng.choice(ALPHABET) for _ in range(4)) if i % every == 0 else f"v{i}"
        for i in range(3_000)
    ]
    texts[0], texts[-1] = '"first', "last\\"
    column = pa.array(texts, pa.string())
    want = [None if t is None else orjson.dumps(t)[1:-1].decode() for t in texts]
    assert escaped(column).to_pylist() == want
    assert escaped(column.slice(1, 2_998)).to_pylist() == want[1:-1]


def test_escaped_leaves_null_rows_null_whatever_bytes_they_cover() -> None:
    """Arrow allows a null row to cover bytes; those are never escaped into a value."""
    offsets = pa.py_buffer(b"".join(n.to_bytes(4, "little") for n in (0, 2, 4, 5)))
    validity = pa.py_buffer(bytes([0b101]))
    column = pa.Array.from_buffers(pa.string(), 3, [validity, offsets, pa.py_buffer(b'ok"\\\n')])
    assert column.to_pylist() == ["ok", None, "\n"]
    newline = orjson.dumps("\n")[1:-1].decode()  # a backslash and an n
    assert escaped(column).to_pylist() == ["ok", None, newline]
    # Among many clean rows the few rows to escape are found one by one: the null row is still left alone.
    among_clean = pa.concat_arrays([column, pa.array(["x"] * 1_000)])
    assert escaped(among_clean).to_pylist() == ["ok", None, newline] + ["x"] * 1_000


def test_the_default_encodes_row_by_row() -> None:
    """The base class's generic encoder (for a vendor without its own) is encode_contact per row."""

    class Echo(Destination):
        vendor = "echo"
        display_name = "Echo"

        def auth_headers(self, credential: Credential) -> dict[str, str]:
            return {}

        def encode_contact(self, contact: Contact) -> bytes:
            return orjson.dumps([contact.email, contact.attributes])

    dest = Echo(client=None, credential=Credential(SecretStr("k")), target=Target("l", ("b", "a")))  # type: ignore[arg-type]
    encoded = dest.encode_batch(pa.array(["x@y.z", "u@v.w"]), {"b": pa.array(["1", ""]), "a": pa.array([None, "2"])})
    assert encoded.to_pylist() == [b'["x@y.z",{"b":"1"}]', b'["u@v.w",{"a":"2"}]']


@pytest.mark.parametrize("seed", range(40))
def test_sendgrid_size_bounds_are_never_below_the_encoding(seed: int) -> None:
    # Cut skips encoding when these bounds prove the item limit binds first: a bound below a row's real
    # size could let a batch over SendGrid's body limit through.
    rng = random.Random(f"bounds-{seed}")
    universe = [*STANDARD_ATTRIBUTES, *CUSTOM[SendGridDestination]]
    names = rng.sample(universe, rng.randint(0, len(universe)))
    emails, attrs, _ = columns(rng, names, rng.choice([1, 7, 120]))
    dest = build(SendGridDestination, names)
    bounds = dest.size_bounds(emails, attrs)
    assert bounds is not None
    sizes = [len(b) for b in dest.encode_batch(emails, attrs).to_pylist()]
    assert all(bound >= size for bound, size in zip(bounds.to_pylist(), sizes, strict=True))
    # Plain columns (nothing to escape) are bounded tightly: the bound is the size when every key is there.
    texts = [v for column in (emails, *attrs.values()) for v in column.to_pylist() if v]
    if not any(set(v) & {'"', "\\"} or any(ord(c) < 0x20 for c in v) for v in texts):
        assert min(bound - size for bound, size in zip(bounds.to_pylist(), sizes, strict=True)) < 64


def test_sendgrid_size_bounds_before_prepare_are_none_only_with_custom_values() -> None:
    dest = SendGridDestination(
        client=None,  # type: ignore[arg-type]  # nothing is sent
        credential=credential(SendGridDestination),
        target=Target("list-1", ("first_name", "loyalty_tier")),
    )
    emails = pa.array(["a@b.co", "c@d.co"])
    assert dest.size_bounds(emails, {"first_name": pa.array(["Ann", ""]), "loyalty_tier": pa.array(["", None])})
    assert (
        dest.size_bounds(emails, {"first_name": pa.array(["Ann", ""]), "loyalty_tier": pa.array(["", "gold"])}) is None
    )
