"""``ContactBatch``: the columns the pipeline hands an adapter read as the ``Contact`` list they replaced,
and the adapters' checks made a column at a time refuse the rows the per-row checks refused."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from pydantic import SecretStr

from destinations.base import (
    Contact,
    ContactBatch,
    Credential,
    Outcome,
    Target,
    Verdicts,
    emails_of,
    merge_verdicts,
    vendor_ids_of,
)
from destinations.brevo.adapter import BrevoDestination
from destinations.campaign_monitor.adapter import CampaignMonitorDestination
from destinations.campaign_monitor.adapter import _too_long as cm_too_long
from destinations.campaign_monitor.constants import MAX_VALUE
from destinations.sendgrid.adapter import _too_long as sendgrid_too_long
from destinations.sendgrid.constants import MAX_LENGTHS, RESERVED
from shared.pipeline import records
from shared.pipeline.apply import summarise
from shared.pipeline.encode import contacts

NAMES = ["first_name", "last_name", "city", "loyalty", "score"]


def _table(rng: random.Random, rows: int) -> pa.Table:
    def value() -> str:
        roll = rng.random()
        if roll < 0.2:
            return ""
        if roll < 0.3:
            return "x" * rng.choice([49, 50, 51, 99, 100, 101, 254, 255, 256])
        if roll < 0.35:
            return "é" * rng.choice([50, 51, 100, 101])  # characters, not bytes, are counted
        return rng.choice(["Ann", "1.5", "true", "nope", "-3e2", "YES", " 7 "])

    columns = {
        records.EMAIL: pa.array([f"c{i}@x.co" for i in range(rows)]),
        records.VENDOR_ID: pa.array([rng.choice(["", f"id-{i}"]) for i in range(rows)]),
    }
    for name in NAMES:
        columns[records.attribute_column(name)] = pa.array([value() for _ in range(rows)])
    return pa.table(columns)


def _reference(table: pa.Table) -> list[Contact]:
    """The per-row contacts the pipeline built before: non-empty values in mapped order, "" id = None."""
    rows = table.to_pylist()
    return [
        Contact(
            r[records.EMAIL],
            {n: r[records.attribute_column(n)] for n in NAMES if r[records.attribute_column(n)]},
            r[records.VENDOR_ID] or None,
        )
        for r in rows
    ]


@pytest.mark.parametrize("seed", range(5))
def test_a_batch_reads_as_the_contact_list_it_replaced(seed: int) -> None:
    rng = random.Random(seed)
    table = _table(rng, 300)
    batch = contacts(table, NAMES)
    want = _reference(table)
    assert len(batch) == len(want)
    assert list(batch) == want
    assert [batch[i] for i in (0, 17, -1)] == [want[0], want[17], want[-1]]
    assert list(batch[10:20]) == want[10:20] and list(batch[::7]) == want[::7]
    assert list(batch.take([5, 3, 5])) == [want[5], want[3], want[5]]
    assert emails_of(batch) == [c.email for c in want] and vendor_ids_of(batch) == [c.vendor_id for c in want]
    removals = contacts(table, NAMES, with_attributes=False)
    assert list(removals) == [Contact(c.email, {}, c.vendor_id) for c in want]
    with pytest.raises(IndexError):
        batch[300]


def _sendgrid_reference(contact: Contact) -> str | None:
    if len(contact.email) > MAX_LENGTHS["email"]:
        return "the email is longer than SendGrid's 254 characters"
    for name, value in contact.attributes.items():
        field = RESERVED.get(name)
        limit = MAX_LENGTHS.get(field or "")
        if limit is not None and len(value) > limit:
            return f"{name} is longer than SendGrid's {limit} characters for {field}"
    return None


def _cm_reference(contact: Contact) -> str | None:
    long = next((k for k, v in contact.attributes.items() if len(v) > MAX_VALUE), None)
    return None if long is None else f"{long} is longer than Campaign Monitor's {MAX_VALUE} characters"


def _brevo_reference(types: dict[str, str], contact: Contact) -> str | None:
    for name, value in contact.attributes.items():
        kind = types.get(name)
        if kind == "float":
            try:
                float(value)
            except ValueError:
                return f"attribute {name.upper()} expects a number, got {value[:40]!r}"
        elif kind == "boolean" and value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            return f"attribute {name.upper()} expects true or false, got {value[:40]!r}"
    return None


@pytest.mark.parametrize("seed", range(5))
def test_column_checks_refuse_the_rows_the_per_row_checks_refused(seed: int) -> None:
    table = _table(random.Random(seed), 400)
    want = _reference(table)
    long_email = Contact("a" * 250 + "@x.co", {"first_name": "x" * 60})
    brevo = BrevoDestination(
        client=None,  # type: ignore[arg-type]  # nothing is sent
        credential=Credential(SecretStr("key")),
        target=Target("1", tuple(NAMES)),
    )
    brevo._types = {"loyalty": "boolean", "score": "float", "city": "text"}
    for given in (contacts(table, NAMES), want, [*want, long_email]):
        people = list(given)
        expected = {i: r for i, c in enumerate(people) if (r := _sendgrid_reference(c)) is not None}
        assert sendgrid_too_long(given, NAMES) == expected
        expected = {i: r for i, c in enumerate(people) if (r := _cm_reference(c)) is not None}
        assert cm_too_long(given, NAMES) == expected
        expected = {i: r for i, c in enumerate(people) if (r := _brevo_reference(brevo._types, c)) is not None}
        assert brevo._refusals(given) == expected
    assert sendgrid_too_long([long_email]) == {0: "the email is longer than SendGrid's 254 characters"}
    assert CampaignMonitorDestination.vendor == "campaign_monitor"


@pytest.mark.parametrize("seed", range(8))
def test_summarise_reads_verdicts_as_it_reads_the_results_they_stand_for(seed: int) -> None:
    """A batch's checkpoint entry is the same whether the adapter's answer comes as ``Verdicts`` (one per
    named row, a default for the rest) or as one ``RowResult`` per row."""
    rng = random.Random(seed)
    secret = "key-that-must-not-leak"
    destination = BrevoDestination(
        client=None,  # type: ignore[arg-type]  # nothing is sent
        credential=Credential(SecretStr(secret)),
        target=Target("1", tuple(NAMES)),
    )
    emails = [f"c{rng.randrange(60)}@x.co" for _ in range(80)]  # repeats, as a batch may hold them
    sent = [e for e in emails if rng.random() < 0.9]  # the rest: withheld, or unknown to the answer
    withheld = {e: [Outcome.SUPPRESSED.value, "unsubscribed"] for e in emails if e not in sent and rng.random() < 0.5}
    outcomes = [Outcome.REJECTED, Outcome.SUPPRESSED, Outcome.UPSERTED, Outcome.FAILED]
    verdicts = {e: [rng.choice(outcomes).value, rng.choice(["", f"bad value ({secret})"])] for e in sent[::7]}
    default, reason = rng.choice([(Outcome.UPSERTED, None), (Outcome.FAILED, f"job ended ({secret})")])
    contacts = ContactBatch(emails)
    given = merge_verdicts(ContactBatch(sent), verdicts, default, reason)
    assert isinstance(given, Verdicts) and len(given) == len(sent)
    entry = summarise(given, contacts, Outcome.UPSERTED, destination, withheld)
    assert entry == summarise(list(given), contacts, Outcome.UPSERTED, destination, withheld)
    assert secret not in repr(entry)
    assert [r.email for r in given] == sent and given[-1] == list(given)[-1]
