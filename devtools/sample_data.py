"""Deterministic sample profiles: realistic names, some invalid emails, duplicates within and across
segments, in two formats — what a customer-data platform's refresh looks like."""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from shared.pipeline.normalise import email_problem, normalise_email
from shared.storage import BlobStore

FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra"]
CITIES = [
    ("Lisbon", "Portugal"),
    ("Oslo", "Norway"),
    ("Austin", "United States"),
    ("Lyon", "France"),
    ("Pune", "India"),
]
COLUMNS = ("email", "first_name", "last_name", "phone", "city", "country")


def profile(i: int, rng: random.Random) -> dict[str, str]:
    city, country = CITIES[i % len(CITIES)]
    return {
        "email": f"customer{i:07d}@example.com",
        "first_name": FIRST[rng.randrange(len(FIRST))],
        "last_name": LAST[rng.randrange(len(LAST))],
        "phone": f"+3519{i:08d}",
        "city": city,
        "country": country,
    }


@dataclass
class Sample:
    """What was written, and what a correct export must deliver."""

    rows: int = 0
    expected: dict[str, dict[str, str]] = field(default_factory=dict)  # normalised email → first occurrence
    invalid: int = 0
    duplicate: int = 0


def segment_rows(
    start: int, count: int, seed: int, *, invalid_every: int, duplicate_every: int
) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    for n in range(count):
        i = start + n
        row = profile(i, rng)
        if invalid_every and n % invalid_every == invalid_every - 1:
            row["email"] = f"customer{i:07d}.example.com" if n % 2 else f"customer{i:07d}@@example"
        yield row
        if duplicate_every and n % duplicate_every == duplicate_every - 1:
            # The same person again, written differently: normalisation must collapse it.
            yield {**row, "email": "  " + row["email"].upper() + " ", "first_name": row["first_name"] + "-dup"}


def _account(sample: Sample, rows: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
    for row in rows:
        sample.rows += 1
        email = normalise_email(row["email"])
        if email_problem(email):
            sample.invalid += 1
        elif email in sample.expected:
            sample.duplicate += 1
        else:
            sample.expected[email] = {**row, "email": email}
        yield row


def write_csv(store: BlobStore, name: str, rows: Iterator[dict[str, str]], *, gzipped: bool = False) -> None:
    text = io.StringIO()
    text.write(",".join(COLUMNS) + "\n")
    for row in rows:
        text.write(",".join(row[c] for c in COLUMNS) + "\n")
    data = text.getvalue().encode()
    store.write_bytes(name, gzip.compress(data, compresslevel=1) if gzipped else data)


def write_jsonl(store: BlobStore, name: str, rows: Iterator[dict[str, str]]) -> None:
    store.write_bytes(name, b"".join(orjson.dumps(row) + b"\n" for row in rows))


def seed_sample(
    store: BlobStore,
    total: int,
    *,
    seed: int = 7,
    segments: tuple[str, str] = ("segments/vip-customers", "segments/newsletter"),
    invalid_every: int = 97,
    duplicate_every: int = 53,
    overlap: float = 0.1,
) -> Sample:
    """Write two segments: a CSV one and a JSON Lines one, overlapping by ``overlap`` of the second."""
    sample = Sample()
    first = total // 2
    second = total - first
    overlap_start = int(first * (1 - overlap))
    write_csv(
        store,
        f"{segments[0]}/part-00000.csv",
        _account(sample, segment_rows(0, first, seed, invalid_every=invalid_every, duplicate_every=duplicate_every)),
    )
    write_jsonl(
        store,
        f"{segments[1]}/part-00000.jsonl",
        _account(sample, segment_rows(overlap_start, second, seed + 1, invalid_every=invalid_every, duplicate_every=0)),
    )
    return sample


def profiles_for(indexes: Iterator[int] | range, *, seed: int = 11) -> dict[str, dict[str, str]]:
    """Valid, distinct profiles keyed by their normalised email (for refresh scenarios)."""
    rng = random.Random(seed)
    rows = (profile(i, rng) for i in indexes)
    return {row["email"]: row for row in rows}


def write_profiles(store: BlobStore, segment: str, profiles: dict[str, dict[str, str]]) -> None:
    """Replace a segment's content with ``profiles`` as one CSV part (what a refresh does)."""
    write_csv(store, f"{segment}/part-00000.csv", iter(profiles.values()))
