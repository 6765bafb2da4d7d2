"""The benchmark's input: the demo's generator (``devtools/sample_data.py``) at the benchmark's sizes.

Two segments as the demo writes them — a CSV one with duplicates written differently (upper case,
spaces) and a JSON Lines one overlapping it by 10% — with ~1% invalid emails, cut into parts of
``ROWS_PER_PART`` rows so a million profiles never sit in memory at once. The rows come from the
generator's own ``segment_rows`` and are written by its ``write_csv``/``write_jsonl``, part by part.

A refresh ("variant" 1) changes the first name of every 100th row of each segment's stream; variant 2
also the rows halfway between, so the refresh after it changes another 1%. Each variant is generated
once into a local folder and uploaded from there into each run's fresh container.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import SecretStr

from destinations import destination_class
from destinations.base import Contact, Credential, Target
from devtools.local_env import DEFAULT_MAPPING
from devtools.sample_data import segment_rows, write_csv, write_jsonl
from shared.pipeline.normalise import email_problem, normalise_email
from shared.storage import BlobStore

# The demo's own parameters (devtools.sample_data.seed_sample's defaults).
SEGMENTS = ("segments/vip-customers", "segments/newsletter")
SEED = 7
INVALID_EVERY = 97
DUPLICATE_EVERY = 53
OVERLAP = 0.1
ROWS_PER_PART = 62_500
SAMPLE = 1_000  # valid profiles kept to measure the average encoded contact


@dataclass
class Variant:
    """One generated input and what a correct export of it must deliver."""

    blobs: list[str] = field(default_factory=list)
    rows: int = 0
    unique: int = 0  # valid, first occurrence: what a full export upserts
    invalid: int = 0
    duplicate: int = 0
    changed: int = 0  # unique profiles whose attributes differ from the previous variant
    sample: list[dict[str, str]] = field(default_factory=list)


class _Folder:
    """``write_bytes`` into a local folder: what the generator's writers need of a store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class Inputs:
    """``profiles`` rows in the demo's two segments; variants generated on first use, then cached."""

    def __init__(self, profiles: int) -> None:
        self.profiles = profiles
        self._folder = tempfile.TemporaryDirectory(prefix="bench-input-")
        self._variants: dict[int, Variant] = {}

    def close(self) -> None:
        self._folder.cleanup()

    def variant(self, number: int) -> Variant:
        if number not in self._variants:
            self._variants[number] = self._generate(number)
        return self._variants[number]

    def upload(self, store: BlobStore, number: int) -> Variant:
        """Write the variant's parts into ``store`` (replacing the previous variant's)."""
        variant = self.variant(number)
        root = Path(self._folder.name) / str(number)
        for blob in variant.blobs:
            store.write_bytes(blob, (root / blob).read_bytes())
        return variant

    def _generate(self, number: int) -> Variant:
        folder = _Folder(Path(self._folder.name) / str(number))
        variant = Variant()
        seen: set[str] = set()
        first = self.profiles // 2
        streams = (
            (
                SEGMENTS[0],
                "csv",
                segment_rows(0, first, SEED, invalid_every=INVALID_EVERY, duplicate_every=DUPLICATE_EVERY),
            ),
            (
                SEGMENTS[1],
                "jsonl",
                segment_rows(
                    int(first * (1 - OVERLAP)),
                    self.profiles - first,
                    SEED + 1,
                    invalid_every=INVALID_EVERY,
                    duplicate_every=0,
                ),
            ),
        )
        for segment, kind, rows in streams:
            counted = _account(rows, variant, seen, number)
            for part in range(math.ceil(self.profiles / 2 / ROWS_PER_PART) + 1):
                chunk = list(itertools.islice(counted, ROWS_PER_PART))
                if not chunk:
                    break
                blob = f"{segment}/part-{part:05d}.{kind}"
                # The writers take a BlobStore; they only call its write_bytes, which the folder has.
                writer = write_csv if kind == "csv" else write_jsonl
                writer(cast(BlobStore, folder), blob, iter(chunk))
                variant.blobs.append(blob)
        return variant


def _account(rows: Iterator[dict[str, str]], variant: Variant, seen: set[str], number: int) -> Iterator[dict[str, str]]:
    """Apply the variant's changes and count what the export must deliver (first occurrence wins)."""
    for n, row in enumerate(rows):
        changed = (number >= 1 and n % 100 == 0) or (number >= 2 and n % 100 == 50)
        newest = (number == 1 and n % 100 == 0) or (number == 2 and n % 100 == 50)
        if changed:
            row = {**row, "first_name": row["first_name"] + "-r"}
        variant.rows += 1
        email = normalise_email(row["email"])
        if email_problem(email):
            variant.invalid += 1
        elif email in seen:
            variant.duplicate += 1
        else:
            seen.add(email)
            variant.unique += 1
            variant.changed += newest
            if len(variant.sample) < SAMPLE:
                variant.sample.append({**row, "email": email})
        yield row


def contact_bytes(vendor: str, sample: list[dict[str, str]]) -> int:
    """The average size of a contact as the vendor's adapter encodes it (its ``encode_contact``)."""
    attributes = tuple(a for a in DEFAULT_MAPPING[vendor] if a != "email")
    adapter: Any = destination_class(vendor)(
        client=None,  # type: ignore[arg-type]  # never sends: only encodes
        credential=Credential(secret=SecretStr("bench")),
        target=Target("1", attributes),
    )
    if hasattr(adapter, "_field_ids"):
        adapter._field_ids = {}  # SendGrid: no custom fields mapped, so no field ids to learn
    sizes = [
        len(adapter.encode_contact(Contact(row["email"], {a: row.get(a, "") for a in attributes}))) for row in sample
    ]
    return math.ceil(sum(sizes) / len(sizes))
