"""Every reader, every hostile case: each row ends as a value or an ``invalid`` naming file and line, or
the one file fails naming file, line and column — never a silent loss. Pure: no storage involved."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.segments import (
    FIELD_LIMIT,
    LINE_LIMIT,
    Row,
    RowError,
    SourcePart,
    UnreadableFile,
    discover_parts,
    read_part,
)

COLUMNS = ["email", "first_name"]
GOOD = [f"u{i:02d}@example.com" for i in range(1, 51)]


def read(data: bytes, fmt: str, wanted: Sequence[str] = COLUMNS, **part: object) -> list[Row]:
    """Rows of ``data`` read as ``fmt``; ``part`` sets other SourcePart fields (CDM columns...)."""
    source = SourcePart(segment="s", blob=f"s/f.{fmt}", format=fmt, **part)  # type: ignore[arg-type]
    return list(read_part(source, io.BytesIO(data), wanted))


def errors(rows: list[Row]) -> list[tuple[int, str]]:
    return [(r.line, r.message) for r in rows if isinstance(r, RowError)]


def values(rows: list[Row]) -> list[tuple[int, tuple[str, ...]]]:
    return [r for r in rows if not isinstance(r, RowError)]


def csv_bytes(lines: list[str], header: str = "email,first_name") -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def jsonl_bytes(items: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


# ---- CSV and CSV.gz: the same reader, so each case runs on both ----------------------------------------

CSV_FORMATS = [("csv", lambda b: b), ("csv.gz", gzip.compress)]


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_unterminated_quote_costs_only_its_own_line(fmt, pack) -> None:
    lines = [f"{e},N" for e in GOOD]
    lines[1] = f'{GOOD[1]},"Bob'  # line 3: a quote that never closes
    rows = read(pack(csv_bytes(lines)), fmt)
    assert errors(rows) == [(3, "a quoted value that starts on this line is never closed")]
    assert [v[1][0] for v in values(rows)] == GOOD[:1] + GOOD[2:]  # 49 of 50, the 48 after it included
    assert values(rows)[1][0] == 4


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_unterminated_quote_mid_file_is_bounded_by_the_field_limit(fmt, pack) -> None:
    filler = [f"f{i:06d}@example.com,{'x' * 60}" for i in range(3000)]  # > FIELD_LIMIT characters after it
    lines = [f'{GOOD[0]},"Bob', *filler, f"{GOOD[1]},Ada"]
    rows = read(pack(csv_bytes(lines)), fmt)
    assert errors(rows)[0] == (
        2,
        f"a value is longer than {FIELD_LIMIT} characters (often a quoted value that is never closed)",
    )
    assert len(errors(rows)) == 1
    assert len(values(rows)) == 3001 and values(rows)[-1] == (3003, (GOOD[1], "Ada"))


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_bytes_that_are_not_utf8_in_a_mapped_field_name_the_field(fmt, pack) -> None:
    data = b"email,first_name,notes\nu1@example.com,Jos\xe9,x\nu2@example.com,Ana,\xff\xfe\n"
    rows = read(pack(data), fmt)
    assert errors(rows) == [(2, "'first_name' is not valid UTF-8 (byte 0xE9); save the file as UTF-8")]
    assert values(rows) == [(3, ("u2@example.com", "Ana"))]  # bad bytes in an unmapped column do not matter


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_nul_byte_in_a_mapped_field(fmt, pack) -> None:
    rows = read(pack(b"email,first_name\nu1@example.com,A\x00B\nu2@example.com,Ana\n"), fmt)
    assert errors(rows) == [(2, "'first_name' contains a NUL byte")]
    assert values(rows) == [(3, ("u2@example.com", "Ana"))]


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_oversized_field_and_multi_megabyte_line(fmt, pack) -> None:
    data = csv_bytes(
        [f"u1@example.com,{'x' * (FIELD_LIMIT + 10)}", f"u2@example.com,{'y' * (LINE_LIMIT + 5)}", "u3@example.com,Ok"]
    )
    rows = read(pack(data), fmt)
    assert errors(rows) == [
        (2, f"a value is longer than {FIELD_LIMIT} characters (often a quoted value that is never closed)"),
        (3, f"line 3 is longer than {LINE_LIMIT} characters"),
    ]
    assert values(rows) == [(4, ("u3@example.com", "Ok"))]


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_duplicate_mapped_header_fails_the_file_naming_the_column(fmt, pack) -> None:
    data = csv_bytes(["a@example.com,A,b@example.com", "c@example.com,C,d@example.com"], "email,first_name,Email")
    with pytest.raises(UnreadableFile) as caught:
        read(pack(data), fmt)
    assert caught.value.blob == f"s/f.{fmt}" and caught.value.line == 1 and caught.value.records == 2
    assert "'email' appears 2 times in the header (column 1 ('email') and column 3 ('Email'))" in str(caught.value)


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_duplicate_unmapped_header_is_harmless(fmt, pack) -> None:
    rows = read(pack(csv_bytes(["a@example.com,A,1,2"], "email,first_name,x,x")), fmt)
    assert values(rows) == [(2, ("a@example.com", "A"))]


@pytest.mark.parametrize(("fmt", "pack"), CSV_FORMATS)
def test_missing_mapped_column_fails_the_file_naming_it(fmt, pack) -> None:
    with pytest.raises(UnreadableFile) as caught:
        read(pack(csv_bytes(["a@example.com,x", "b@example.com,y"], "email,city")), fmt)
    assert (
        str(caught.value) == f"s/f.{fmt}, line 1: mapped column(s) 'first_name' not found; the header has email, city"
    )
    assert caught.value.records == 2


def test_truncated_gzip_fails_the_file_naming_the_line() -> None:
    packed = gzip.compress(csv_bytes([f"{e},N" for e in GOOD]))
    source = SourcePart(segment="s", blob="s/f.csv.gz", format="csv.gz")
    seen: list[Row] = []
    with pytest.raises(UnreadableFile) as caught:
        seen.extend(read_part(source, io.BytesIO(packed[: len(packed) // 2]), COLUMNS))
    assert caught.value.blob == "s/f.csv.gz" and caught.value.line is not None and caught.value.line > 2
    assert "cut short" in str(caught.value) and f"line {caught.value.line - 1}" in str(caught.value)


def test_blank_lines_quoted_newlines_and_crlf() -> None:
    data = (
        b'email,first_name\r\nu1@example.com,"a ""q"" b"\r\nu2@example.com,"multi\r\nline"\r\n\r\nu3@example.com,x\r\n'
    )
    assert read(data, "csv") == [
        (2, ("u1@example.com", 'a "q" b')),
        (3, ("u2@example.com", "multi\r\nline")),
        (6, ("u3@example.com", "x")),
    ]


def test_wrong_field_counts_and_bad_quoting_are_per_row() -> None:
    rows = read(csv_bytes(["u1@example.com", 'u2@example.com,"a"b', "u3@example.com,A,B", "u4@example.com,D"]), "csv")
    assert errors(rows) == [
        (2, "expected 2 fields, found 1"),
        (3, "a quote closes in the middle of a value; quote the whole value and double inner quotes"),
        (4, "expected 2 fields, found 3"),
    ]
    assert values(rows) == [(5, ("u4@example.com", "D"))]


# ---- JSON Lines and JSON Lines.gz -------------------------------------------------------------------

JSONL_FORMATS = [("jsonl", lambda b: b), ("jsonl.gz", gzip.compress)]


@pytest.mark.parametrize(("fmt", "pack"), JSONL_FORMATS)
def test_jsonl_hostile_lines(fmt, pack) -> None:
    data = (
        jsonl_bytes([{"email": "u1@example.com", "first_name": "A"}])
        + b'{"email": "u2@example.com", "first_name": "Jos\xe9"}\n'
        + jsonl_bytes([{"email": "u3@example.com", "first_name": "A\x00B"}, {"email": "u4@example.com"}])
        + b'{"email": "u5@example.com", "first_name": "unterminated\n'
        + jsonl_bytes(
            [
                {"email": "u6@example.com", "first_name": {"nested": 1}},
                {"email": "u7@example.com", "Email": "x@example.com", "first_name": "A"},
                ["not", "an", "object"],
            ]
        )
        + b"\n"
        + jsonl_bytes([{"email": "u8@example.com", "first_name": "Z" * 10}])
    )
    rows = read(pack(data), fmt)
    assert values(rows) == [
        (1, ("u1@example.com", "A")),
        (4, ("u4@example.com", "")),
        (10, ("u8@example.com", "Z" * 10)),
    ]
    assert [line for line, _ in errors(rows)] == [2, 3, 5, 6, 7, 8]
    messages = dict(errors(rows))
    assert messages[2] == "'first_name' is not valid UTF-8 (byte 0xE9); save the file as UTF-8"
    assert messages[3] == "'first_name' contains a NUL byte"
    assert messages[5].startswith("not a valid JSON line")
    assert messages[6] == "'first_name' holds a JSON dict, not a single value"
    assert messages[7] == "keys 'email' and 'Email' both match a mapped column"
    assert messages[8] == "a JSON line must be an object"


@pytest.mark.parametrize(("fmt", "pack"), JSONL_FORMATS)
def test_jsonl_mapped_column_in_no_line_fails_the_file(fmt, pack) -> None:
    with pytest.raises(UnreadableFile) as caught:
        read(pack(jsonl_bytes([{"email": "a@example.com"}, {"email": "b@example.com", "city": "Oslo"}])), fmt)
    assert str(caught.value) == f"s/f.{fmt}: mapped column(s) 'first_name' not found in any line of the file"
    assert caught.value.records == 2


@pytest.mark.parametrize(("fmt", "pack"), JSONL_FORMATS)
def test_jsonl_multi_megabyte_line(fmt, pack) -> None:
    data = jsonl_bytes(
        [{"email": "a@example.com", "first_name": "x" * LINE_LIMIT}, {"email": "b@example.com", "first_name": "B"}]
    )
    rows = read(pack(data), fmt)
    assert errors(rows) == [(1, f"line 1 is longer than {LINE_LIMIT} bytes")]
    assert values(rows) == [(2, ("b@example.com", "B"))]


def test_truncated_jsonl_gzip_fails_the_file() -> None:
    packed = gzip.compress(jsonl_bytes([{"email": e, "first_name": "N"} for e in GOOD]))
    with pytest.raises(UnreadableFile) as caught:
        read(packed[:-30], "jsonl.gz")
    assert "cut short" in str(caught.value) and caught.value.blob == "s/f.jsonl.gz"


# ---- Parquet ----------------------------------------------------------------------------------------


def test_parquet_values_nul_bad_utf8_and_nested() -> None:
    table = pa.table(
        {
            "email": ["u1@example.com", "u2@example.com", "u3@example.com", "u4@example.com"],
            "first_name": pa.array([b"Ana", b"Jos\xe9", b"A\x00B", None], type=pa.binary()),
            "age": [30, None, 2, 3],
        }
    )
    rows = read(parquet_bytes(table), "parquet", ["email", "first_name", "age"])
    assert values(rows) == [(2, ("u1@example.com", "Ana", "30")), (5, ("u4@example.com", "", "3"))]
    assert errors(rows) == [
        (3, "'first_name' is not valid UTF-8 (byte 0xE9); save the file as UTF-8"),
        (4, "'first_name' contains a NUL byte"),
    ]
    nested = pa.table({"email": ["a@example.com"], "first_name": pa.array([["x"]])})
    assert errors(read(parquet_bytes(nested), "parquet")) == [
        (2, "'first_name' holds a nested list, not a single value")
    ]


def test_parquet_missing_and_duplicate_columns_fail_the_file() -> None:
    with pytest.raises(UnreadableFile) as missing:
        read(parquet_bytes(pa.table({"email": ["a@example.com"] * 3, "city": ["x"] * 3})), "parquet")
    assert "'first_name' not found; the schema has email, city" in str(missing.value) and missing.value.records == 3
    twice = pa.Table.from_arrays(
        [pa.array(["a@example.com"]), pa.array(["A"]), pa.array(["B"])], names=["email", "first_name", "first_name"]
    )
    with pytest.raises(UnreadableFile) as duplicate:
        read(parquet_bytes(twice), "parquet")
    assert "'first_name' appears 2 times" in str(duplicate.value) and duplicate.value.records == 1


def test_damaged_parquet_fails_the_file() -> None:
    data = parquet_bytes(pa.table({"email": ["a@example.com"], "first_name": ["A"]}))
    with pytest.raises(UnreadableFile) as caught:
        read(data[: len(data) // 2], "parquet")
    assert caught.value.blob == "s/f.parquet" and "not a readable Parquet file" in str(caught.value)


# ---- CDM: model.json and manifests, headerless partitions ---------------------------------------------


def cdm_names(files: dict[str, object]) -> tuple[list[str], dict[str, str]]:
    texts = {k: v if isinstance(v, str) else json.dumps(v) for k, v in files.items()}
    return sorted(texts), texts


def manifest(location: str, entity_path: str = "local:/Customer.cdm.json/Customer") -> dict[str, object]:
    return {
        "manifestName": "default",
        "entities": [
            {
                "type": "LocalEntity",
                "entityName": "Customer",
                "entityPath": entity_path,
                "dataPartitions": [{"location": location}],
            }
        ],
    }


DEFINITION = {"definitions": [{"entityName": "Customer", "hasAttributes": [{"name": "email"}, {"name": "first_name"}]}]}


@pytest.mark.parametrize(
    "location",
    [
        "local:/Customer/part-0.csv",
        "adls:/segments/cdm-folder/Customer/part-0.csv",
        "adls:/storageacct.dfs.core.windows.net/segments/cdm-folder/Customer/part-0.csv",
        "Customer/part-0.csv",
        "https://acct.blob.core.windows.net/segments/cdm-folder/Customer/part-0.csv",
    ],
)
def test_cdm_manifest_adapter_paths_resolve_to_the_segment_folder(location: str) -> None:
    folder = "cdm-folder"
    names, texts = cdm_names(
        {
            f"{folder}/default.manifest.cdm.json": manifest(location),
            f"{folder}/Customer.cdm.json": DEFINITION,
            f"{folder}/Customer/part-0.csv": "",
        }
    )
    parts = discover_parts(folder, names, texts.__getitem__)
    assert [(p.blob, p.format, p.columns, p.problem) for p in parts] == [
        (f"{folder}/Customer/part-0.csv", "cdm_csv", ("email", "first_name"), None)
    ]
    rows = read(b'u1@example.com,Ada\nu2@example.com,"Bob\n', "cdm_csv", columns=parts[0].columns, has_header=False)
    assert rows == [
        (1, ("u1@example.com", "Ada")),
        RowError(2, "a quoted value that starts on this line is never closed"),
    ]


@pytest.mark.parametrize("location", ["local:/Customer/missing.csv", "../other-segment/part-0.csv", "/etc/passwd"])
def test_cdm_wrong_or_escaping_partition_is_held_back_naming_the_entity(location: str) -> None:
    names, texts = cdm_names(
        {
            "seg/default.manifest.cdm.json": manifest(location),
            "seg/Customer.cdm.json": DEFINITION,
            "seg/Customer/part-0.csv": "",
            "other-segment/part-0.csv": "",
        }
    )
    parts = discover_parts("seg", [n for n in names if n.startswith("seg/")], texts.__getitem__)
    assert len(parts) == 1 and parts[0].problem == (
        f"entity 'Customer': data partition {location!r} is not a file of the segment folder 'seg'"
    )
    with pytest.raises(UnreadableFile) as caught:
        read(b"", "cdm", problem=parts[0].problem)
    assert "entity 'Customer'" in str(caught.value) and "partition" not in str(caught.value).split(":")[0]


def test_cdm_model_json_and_its_problems() -> None:
    model = {
        "name": "m",
        "entities": [
            {
                "name": "Customer",
                "attributes": [{"name": "email"}, {"name": "first_name"}],
                "partitions": [{"location": "adls:/segments/seg/Customer/p.csv"}, {"location": "local:/nowhere.csv"}],
            },
            {"name": "Empty", "attributes": [], "partitions": [{"location": "Customer/p.csv"}]},
        ],
    }
    names, texts = cdm_names({"seg/model.json": model, "seg/Customer/p.csv": ""})
    parts = discover_parts("seg", names, texts.__getitem__)
    assert [(p.blob, p.problem) for p in parts] == [
        ("seg/Customer/p.csv", None),
        (
            "seg/model.json",
            "entity 'Customer': data partition 'local:/nowhere.csv' is not a file of the segment folder 'seg'",
        ),
        ("seg/model.json", "entity 'Empty' has no attribute names"),
    ]
    broken = discover_parts("seg", ["seg/model.json"], lambda _: "{not json")
    assert (
        broken[0].problem is not None and broken[0].problem.startswith("not valid JSON") and broken[0].problem_line == 1
    )


def test_cdm_mapped_column_missing_from_the_entity_fails_that_partition() -> None:
    with pytest.raises(UnreadableFile) as caught:
        read(b"a@example.com,x\n", "cdm_csv", ["email", "city"], columns=("email", "first_name"), has_header=False)
    assert "'city' not found; the CDM entity's attribute list has email, first_name" in str(caught.value)


def test_cdm_data_partition_patterns_select_files_under_their_root() -> None:
    def entity(pattern: dict[str, object]) -> dict[str, object]:
        document = manifest("unused")
        entry = document["entities"][0]  # type: ignore[index]
        entry["dataPartitions"] = []
        entry["dataPartitionPatterns"] = [{"name": "parts", **pattern}]
        return document

    files = {
        "seg/Customer.cdm.json": DEFINITION,
        "seg/Customer/a.csv": "",
        "seg/Customer/sub/b.csv": "",
        "seg/x.txt": "",
    }
    for pattern, expected in [
        ({"rootLocation": "local:/Customer/", "globPattern": "*.csv"}, ["seg/Customer/a.csv"]),
        (
            {"rootLocation": "adls:/segments/seg/Customer", "globPattern": "/**.csv"},
            ["seg/Customer/a.csv", "seg/Customer/sub/b.csv"],
        ),
        ({"rootLocation": "Customer", "regularExpression": "/sub/.+\\.csv"}, ["seg/Customer/sub/b.csv"]),
    ]:
        names, texts = cdm_names({**files, "seg/default.manifest.cdm.json": entity(pattern)})
        parts = discover_parts("seg", names, texts.__getitem__)
        assert [p.blob for p in parts] == expected, pattern
        assert all(p.format == "cdm_csv" and p.columns == ("email", "first_name") for p in parts)
    names, texts = cdm_names(
        {**files, "seg/default.manifest.cdm.json": entity({"rootLocation": "Customer", "globPattern": "*.parquet"})}
    )
    (held,) = discover_parts("seg", names, texts.__getitem__)
    assert held.problem == (
        "entity 'Customer': data partition pattern 'parts' selects nothing "
        "(it matches no file in the segment folder 'seg')"
    )
