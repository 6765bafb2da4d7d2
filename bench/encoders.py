"""Encoding throughput per vendor: ``encode_contact`` row by row against ``encode_batch`` a column at a time.

    python -m bench.encoders [--rows 200000] [--repeat 3]

Contacts carry the eight standard attributes and one custom field (as each vendor names it), a tenth of
the values empty. Two inputs: ``clean`` (nothing to escape) and ``dirty`` (1% of the values hold a quote
or a backslash, 0.1% a control character, some non-ASCII). The per-row figure includes building the
``Contact`` as ``read_rows`` does; the columnar one starts from Arrow string columns. Both outputs are
compared byte for byte before anything is timed. Times are this process's CPU seconds (the machine is
shared, so wall time would count other processes), best of ``--repeat``; one line per vendor and input.
Nothing is asserted: figures, not tests.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import pyarrow as pa
from pydantic import SecretStr

from destinations import destination_class, vendors
from destinations.base import STANDARD_ATTRIBUTES, Contact, Credential, Destination, Target
from destinations.sendgrid.adapter import SendGridDestination

CUSTOM = {
    "sendgrid": "loyalty_tier",
    "mailchimp": "LOYALTY",
    "brevo": "LOYALTY",
    "omnisend": "loyalty",
    "campaign_monitor": "[Loyalty]",
}
WORDS = {
    "first_name": ["Ann", "Björn", "Li", "Zoë", "Mohammed"],
    "last_name": ["Lee", "O'Neil", "García", "Smith", "Nguyen"],
    "phone": ["+15555550100", "+442071838750", "+4915112345678"],
    "address": ["1 Main St", "22 Rue de la Paix", "Hauptstraße 5"],
    "city": ["Springfield", "Paris", "München"],
    "state": ["IL", "IDF", "BY"],
    "postal_code": ["62704", "75002", "80331"],
    "country": ["US", "FR", "DE"],
}


def value(rng: random.Random, name: str, dirty: bool) -> str:
    roll = rng.random()
    if roll < 0.1:
        return ""
    if dirty and roll < 0.11:
        return rng.choice(['say "hi"', "C:\\dir", 'a \\"b\\"'])
    if dirty and roll < 0.111:
        return rng.choice(["line\nbreak", "tab\there", "\x1f"])
    return rng.choice(WORDS.get(name, ["gold", "silver", "bronze"]))


def inputs(rows: int, names: list[str], dirty: bool) -> tuple[list[str], dict[str, list[str]]]:
    rng = random.Random(7)
    emails = [f"customer{i:07d}@example.com" for i in range(rows)]
    return emails, {n: [value(rng, n, dirty) for _ in range(rows)] for n in names}


def adapter(vendor: str, names: list[str]) -> Destination:
    dest = destination_class(vendor)(
        client=None,  # type: ignore[arg-type]  # nothing is sent
        credential=Credential(SecretStr("bench-us1")),
        target=Target("list-1", tuple(names)),
    )
    if isinstance(dest, SendGridDestination):
        dest._field_ids = {CUSTOM["sendgrid"]: "e1_T", "phone": "e2_T"}  # what prepare() would read
    return dest


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def measure(vendor: str, rows: int, dirty: bool, repeat: int) -> dict[str, float]:
    names = [*STANDARD_ATTRIBUTES, CUSTOM[vendor]]
    dest = adapter(vendor, names)
    emails, values = inputs(rows, names, dirty)
    email_column = pa.array(emails, pa.string())
    columns = {n: pa.array(v, pa.string()) for n, v in values.items()}

    def per_row() -> list[bytes]:
        return [
            dest.encode_contact(Contact(email, {n: v for n, v in zip(names, row, strict=True) if v}))
            for email, *row in zip(emails, *values.values(), strict=True)
        ]

    def columnar() -> pa.Array:
        return dest.encode_batch(email_column, columns)

    if [bytes(b) for b in columnar().to_pylist()] != per_row():
        raise SystemExit(f"{vendor}: encode_batch differs from encode_contact")
    row_seconds, batch_seconds = best(repeat, per_row), best(repeat, columnar)
    return {
        "per_row_us": round(row_seconds / rows * 1e6, 3),
        "batch_us": round(batch_seconds / rows * 1e6, 3),
        "per_row_per_s": round(rows / row_seconds),
        "batch_per_s": round(rows / batch_seconds),
        "speedup": round(row_seconds / batch_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'vendor':<17} {'input':<6} {'per row µs':>10} {'batch µs':>9} {'per row/s':>10} {'batch/s':>10} {'×':>5}")
    for vendor in vendors():
        for dirty in (False, True):
            m = measure(vendor, args.rows, dirty, args.repeat)
            print(
                f"{vendor:<17} {'dirty' if dirty else 'clean':<6} {m['per_row_us']:>10} {m['batch_us']:>9} "
                f"{m['per_row_per_s']:>10,} {m['batch_per_s']:>10,} {m['speedup']:>5}"
            )


if __name__ == "__main__":
    main()
