"""The pure steps of the Arrow pipeline, without storage: clean, compare, cut.

``clean_batch`` is checked against ``reference_row``, the per-row rules of the text pipeline it replaced
(copied here as the definition of "no behaviour change"), over generated and hostile values."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from destinations.base import RateLimit, VendorLimits
from shared.pipeline import records
from shared.pipeline.clean import MALFORMED, NON_ASCII, _may_break, clean_batch
from shared.pipeline.cut import BatchCut, cut_bounds, cut_changes, split_units
from shared.pipeline.diff import compare
from shared.pipeline.layout import partition_of
from shared.pipeline.normalise import email_problem, normalise_phone
from shared.pipeline.stage import by_partition

ATTRIBUTES = ["first_name", "phone", "city"]


def reference_row(values: tuple[str, ...], phone_at: int) -> tuple[str, tuple[str, ...]] | str:
    """The text pipeline's stage rules for one row: (email, cleaned values) or the problem."""
    email = values[0].strip().lower()
    problem = email_problem(email)
    if problem is None and phone_at and values[phone_at]:
        phone, problem = normalise_phone(values[phone_at])
        if problem is None:
            values = (*values[:phone_at], phone, *values[phone_at + 1 :])
    if problem is not None:
        if not email.isascii() and problem == MALFORMED:
            problem = NON_ASCII
        return problem
    stripped = tuple(v.strip() for v in values[1:])
    joined = "\x1f".join(stripped)
    if "\n" in joined or "\r" in joined or joined.count("\x1f") != len(stripped) - 1:
        return email, tuple(" ".join(v.split()) for v in values[1:])
    return email, stripped


ODD_VALUES = [
    "",
    " ",
    "Ada",
    "  Ada  ",
    "Ada\nLove",
    "x\x1fy",
    "  Lisbon \r\n",
    "José",
    " Zoë\u00a0",
    "\u2003wide\u2003",
    "tab\there",
    "a  b",
    "日本",
    "\x1c",
    '"quoted"',
]
EMAILS = [
    "a@b.co",
    "  A@B.CO ",
    "",
    "   ",
    "no-at.example.com",
    "x@@y",
    "é@example.com",
    "Jos\u00e9@Example.com",
    "a" * 250 + "@b.co",
    "ok.name+tag@sub.example.org",
    "\u0430@example.com",
    "UPPER@EXAMPLE.COM\t",
]
PHONES = ["", "  ", "+14155550100", "0044 20 7946 0958", "(415) 555-0100", "+1 415.555.0100", "+٣٣١٢٣٤٥٦٧٨", "12"]


def generated_rows(count: int, seed: int) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    return [
        (rng.choice(EMAILS), rng.choice(ODD_VALUES), rng.choice(PHONES), rng.choice(ODD_VALUES)) for _ in range(count)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_batch_applies_exactly_the_rules_of_the_text_pipeline(seed: int) -> None:
    rows = generated_rows(3000, seed)
    lines = list(range(2, len(rows) + 2))
    columns = [pa.array([r[i] for r in rows], pa.string()) for i in range(4)]
    cleaned = clean_batch(pa.array(lines, pa.int64()), columns, ATTRIBUTES, part=3)

    expected_valid, expected_refused = [], []
    for line, row in zip(lines, rows, strict=True):
        outcome = reference_row(row, phone_at=2)
        if isinstance(outcome, str):
            expected_refused.append((line, row[0], outcome))
        else:
            expected_valid.append((outcome[0], line, *outcome[1]))
    refused = list(zip(cleaned.refused_lines, cleaned.refused_emails, cleaned.refused_reasons, strict=True))
    assert sorted(refused) == sorted(expected_refused)
    staged = cleaned.staged
    got = list(
        zip(
            staged.column(records.EMAIL).to_pylist(),
            staged.column(records.LINE).to_pylist(),
            *(staged.column(c).to_pylist() for c in records.attribute_columns(ATTRIBUTES)),
            strict=True,
        )
    )
    assert got == expected_valid
    assert set(staged.column(records.PART).to_pylist()) <= {3}
    assert staged.column(records.KEY).to_pylist() == [
        partition_of(e, 2**32) for e in staged.column("email").to_pylist()
    ]


def test_a_value_with_line_breaks_or_separators_is_collapsed_like_the_text_staging() -> None:
    columns = [pa.array(["a@b.co"]), pa.array(["Ada\nLove"]), pa.array(["x\x1fy"]), pa.array(["  Lisbon \r\n"])]
    staged = clean_batch(pa.array([7], pa.int64()), columns, ["first_name", "last_name", "city"], part=0).staged
    values = [staged.column(c)[0].as_py() for c in records.attribute_columns(["first_name", "last_name", "city"])]
    assert values == ["Ada Love", "x y", "Lisbon"]


def test_a_line_break_is_found_inside_a_slice_of_a_longer_column() -> None:
    # Row batches are slices of the arrays a block was read into: the break check must look at the
    # slice's own bytes, wherever they sit in the column's buffer.
    emails = pa.array(["a@b.co", "c@d.co", "e@f.co", "g@h.co"])
    names = pa.array(["Grace", "Edsger", "Alan\r\nTuring", "Ada\nLove"])
    cases = {1: ["Edsger", "Alan Turing"], 2: ["Alan Turing", "Ada Love"]}
    for start, expected in cases.items():
        columns = [emails.slice(start, 2), names.slice(start, 2)]
        staged = clean_batch(pa.array([1, 2], pa.int64()), columns, ["first_name"], part=0).staged
        assert staged.column(records.attribute_column("first_name")).to_pylist() == expected
    # The check that lets clean columns skip the regex looks at the slice's own bytes.
    assert [_may_break(names.slice(start, 2)) for start in range(3)] == [False, True, True]
    assert _may_break(names.slice(1, 1)) is False
    clean = [emails.slice(0, 2), names.slice(0, 2)]  # a slice without a break, before two that have one
    staged = clean_batch(pa.array([1, 2], pa.int64()), clean, ["first_name"], part=0).staged
    assert staged.column(records.attribute_column("first_name")).to_pylist() == ["Grace", "Edsger"]


def test_equal_values_have_equal_hashes_and_any_change_changes_the_hash() -> None:
    first = records.attribute_hashes([pa.array(["Ada", "Ada", "Ada"]), pa.array(["x", "x", "y"])], 3).to_pylist()
    assert first[0] == first[1] != first[2]
    # The separator keeps "ab" + "c" apart from "a" + "bc".
    split = records.attribute_hashes([pa.array(["ab", "a"]), pa.array(["c", "bc"])], 2).to_pylist()
    assert split[0] != split[1]


def staged_table(rows: list[tuple[str, int, int, str]]) -> pa.Table:
    """(email, part, line, first name) rows as staged records."""
    emails = pa.array([r[0] for r in rows], pa.string())
    names = pa.array([r[3] for r in rows], pa.string())
    return pa.Table.from_arrays(
        [
            emails,
            records.email_keys(emails),
            records.attribute_hashes([names], len(rows)),
            pa.array([r[1] for r in rows], pa.int32()),
            pa.array([r[2] for r in rows], pa.int64()),
            names,
        ],
        schema=records.staged_schema(["first_name"]),
    )


def snapshot_table(entries: list[tuple[str, str, bool, str]]) -> pa.Table:
    """(email, first name the vendor holds, suppressed, vendor id) entries."""
    emails = pa.array([e[0] for e in entries], pa.string())
    names = pa.array([e[1] for e in entries], pa.string())
    return pa.Table.from_arrays(
        [
            emails,
            records.email_keys(emails),
            records.attribute_hashes([names], len(entries)),
            pa.array([e[2] for e in entries], pa.bool_()),
            pa.array([e[3] for e in entries], pa.string()),
        ],
        schema=records.SNAPSHOT_SCHEMA,
    )


STAGED = [
    ("new@x.co", 0, 2, "Nia"),
    ("same@x.co", 0, 3, "Sam"),
    ("moved@x.co", 0, 4, "Mo2"),
    ("new@x.co", 1, 2, "Nia-dup"),  # a later segment: the first occurrence wins
    ("gone-quiet@x.co", 1, 3, "Gil"),
]
OLD = [
    ("same@x.co", "Sam", False, "id-s"),
    ("moved@x.co", "Mo", False, "id-m"),
    ("gone-quiet@x.co", "Gil", True, "id-g"),  # the vendor refused it earlier
    ("left@x.co", "Lee", False, "id-l"),
    ("left-refused@x.co", "Lu", True, "id-lr"),
]


def test_staged_rows_are_grouped_by_partition_each_group_in_file_order() -> None:
    rows = [(f"c{i}@x.co", 0, i + 2, f"N{i}") for i in range(200)]
    groups = by_partition(staged_table(rows), 8)
    keys = np.asarray(records.email_keys(pa.array([r[0] for r in rows], pa.string())), dtype=np.uint32)
    wanted = {k: [r[2] for r, key in zip(rows, keys, strict=True) if key & 7 == k] for k in range(8)}
    assert [k for k, _ in groups] == sorted(k for k, lines in wanted.items() if lines)  # no empty group
    for k, group in groups:
        assert group.column(records.LINE).to_pylist() == wanted[k]  # every row of k, in the file's order
        assert set(records.partitions_of(group.column(records.KEY).to_numpy(), 8)) == {k}
    assert sum(group.num_rows for _, group in groups) == len(rows)


@pytest.mark.parametrize("full", [False, True])
def test_compare_dedupes_first_wins_and_never_resends_a_refused_contact(full: bool) -> None:
    found = compare(staged_table(STAGED), snapshot_table(OLD), attributes=["first_name"], full=full, mirror=True)

    assert found.duplicates.tolist() == [[3, 0]]
    changes = found.changes.to_pylist()
    sent = {row["email"]: row for row in changes}
    expected = {"new@x.co", "moved@x.co"} | ({"same@x.co"} if full else set())
    assert set(sent) == expected
    assert sent["new@x.co"]["old_hash"] is None and sent["new@x.co"]["a.first_name"] == "Nia"
    assert sent["moved@x.co"]["vendor_id"] == "id-m" and sent["moved@x.co"]["old_hash"] is not None
    assert [r["email"] for r in found.removals.to_pylist()] == ["left@x.co"]  # never the refused one
    carried = {r["email"]: r["suppressed"] for r in found.carry.to_pylist()}
    assert carried == ({"gone-quiet@x.co": True} if full else {"gone-quiet@x.co": True, "same@x.co": False})
    result = found.result
    assert (result.profiles, result.duplicate, result.suppressed_known, result.to_remove) == (4, 1, 1, 1)
    assert result.unchanged == (0 if full else 1) and result.to_add == 1 and result.list_size == 3
    assert result.to_update == (2 if full else 1)


def test_in_upsert_mode_contacts_that_left_are_carried_never_removed() -> None:
    found = compare(staged_table(STAGED), snapshot_table(OLD), attributes=["first_name"], full=False, mirror=False)
    assert found.removals.num_rows == 0
    assert {"left@x.co", "left-refused@x.co"} <= set(found.carry.column("email").to_pylist())


def reference_cut(sizes: list[int], limits: VendorLimits, kind: str) -> list[int]:
    """The text pipeline's greedy cut, as bounds."""
    max_items = limits.upsert_batch_items if kind == "changes" else limits.remove_batch_items
    max_bytes = (limits.upsert_batch_bytes or 0) - limits.envelope_bytes if kind == "changes" else 0
    bounds, start, used = [0], 0, 0
    for i, size in enumerate(sizes):
        count = i - start
        if count and (count >= max_items or (max_bytes > 0 and used + size + 1 > max_bytes)):
            bounds.append(i)
            start, used = i, 0
        used += size + 1
    if start < len(sizes):
        bounds.append(len(sizes))
    return bounds


def cut_limits(body: int | None) -> VendorLimits:
    """Batches of at most 100 changes (30 removals) and, with ``body``, that many bytes a request."""
    return VendorLimits(
        upsert_batch_items=100,
        remove_batch_items=30,
        rate_limits={"default": (RateLimit(10, 1.0),)},
        upsert_batch_bytes=body,
        envelope_bytes=100,
    )


@pytest.mark.parametrize("body", [None, 2_000, 50_000])
def test_cut_bounds_are_the_greedy_cut_within_items_and_body_size(body: int | None) -> None:
    limits = cut_limits(body)
    rng = np.random.default_rng(5)
    sizes = rng.integers(20, 400, size=5_000)
    sizes[17] = 5_000  # a contact larger than a whole body still goes, alone
    for kind in ("changes", "removals"):
        assert cut_bounds(sizes, limits, kind) == reference_cut(sizes.tolist(), limits, kind)


@pytest.mark.parametrize(
    ("body", "slack", "measured"),
    [
        (50_000, 40, False),  # bounds prove 100 items bind first: nothing is encoded to cut
        (26_000, 40, True),  # the bounds reach the body limit: measured exactly, cut on the sizes
        (50_000, None, True),  # the adapter knows no bound: its exact sizes are all there is
    ],
)
def test_cut_changes_measures_exactly_only_when_a_bound_could_bind(
    body: int, slack: int | None, measured: bool
) -> None:
    limits = cut_limits(body)
    rng = np.random.default_rng(9)
    exact = [rng.integers(200, 300, size=n) for n in (1_000, 0, 777)]  # rows of three partitions
    asked: list[bool] = []

    def sizes(want_exact: bool) -> list[tuple[np.ndarray, bool]]:
        asked.append(want_exact)
        if want_exact or slack is None:
            return [(s, True) for s in exact]
        return [(s + slack, len(s) == 0) for s in exact]

    counts, bounds = cut_changes(sizes, limits)
    assert counts == [1_000, 0, 777]
    assert bounds == cut_bounds(np.concatenate(exact), limits, "changes")  # the cut of the exact sizes
    assert asked == ([False, True] if measured and slack is not None else [False])


def test_batches_span_partitions_and_each_partition_finds_its_batches() -> None:
    # Partitions of 250, 0 and 130 rows; batches of 100: the third batch holds rows of partitions 0 and 2.
    offsets = [0, 250, 250, 380]
    bounds = [*range(0, 380, 100), 380]
    cut = BatchCut(
        offsets={"changes": offsets, "removals": [0, 0, 0, 0]},
        bounds={"changes": bounds, "removals": [0]},
        units=split_units({"changes": bounds, "removals": [0]}, width=2),
    )
    assert cut.batches("changes") == 4
    assert cut.pieces("changes", 200, 300) == [(0, 200, 250), (2, 0, 50)]
    assert cut.batches_of_partition("changes", 0) == [0, 1, 2]
    assert cut.batches_of_partition("changes", 1) == []
    assert cut.batches_of_partition("changes", 2) == [2, 3]
    assert [(u.kind, u.first, u.end) for u in cut.units] == [("changes", 0, 2), ("changes", 2, 4)]
    assert cut.unit_of("changes", 3) == 1
