"""``read_batches`` against ``read_part``: the same rows, values, errors and file failures, line for line.

Each case is read both ways; flattened batches must equal the per-row reader's output (rows and errors
paired by line), and a file failure must be the same exception (message, line, records) after the
same outcomes. The inputs are the hostile cases of ``tests/unit/test_segments.py`` and the e2e
hostile segment, generated clean files in every format, and files whose first anomaly comes after
several clean blocks (a small ``block_bytes`` forces many blocks).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from devtools.sample_data import COLUMNS as SAMPLE_COLUMNS
from devtools.sample_data import segment_rows
from shared.segments import (
    FIELD_LIMIT,
    LINE_LIMIT,
    Row,
    RowError,
    SourcePart,
    UnreadableFile,
    arrow_csv,
    arrow_jsonl,
    arrow_parquet,
    read_part,
)
from shared.segments.batches import RowBatch, read_batches
from tests.e2e.test_hostile_inputs import FORMULAS, HEADER, csv_file, csv_row, good
from tests.unit.test_segments import GOOD, csv_bytes, jsonl_bytes, parquet_bytes

COLUMNS = ["email", "first_name"]
E2E_COLUMNS = HEADER.split(",")


@dataclass
class Case:
    name: str
    fmt: str
    data: bytes
    columns: Sequence[str] = tuple(COLUMNS)
    part: dict[str, object] = field(default_factory=dict)


def source(case: Case) -> SourcePart:
    return SourcePart(segment="s", blob=f"s/{case.name}.{case.fmt}", format=case.fmt, **case.part)  # type: ignore[arg-type]


def key(row: Row) -> tuple[int, int]:
    return (row.line, 0) if isinstance(row, RowError) else (row[0], 1)


def per_row(case: Case) -> tuple[list[Row], UnreadableFile | None]:
    rows: list[Row] = []
    try:
        rows.extend(read_part(source(case), io.BytesIO(case.data), case.columns))
    except UnreadableFile as exc:
        return rows, exc
    return rows, None


def flatten(batch: RowBatch, width: int, batch_rows: int) -> list[Row]:
    assert batch.lines.type == pa.int64() and len(batch.columns) == width
    assert all(pa.types.is_string(c.type) or pa.types.is_large_string(c.type) for c in batch.columns)
    assert all(c.null_count == 0 and len(c) == len(batch.lines) for c in batch.columns)
    assert len(batch.lines) + len(batch.errors) <= batch_rows
    values = zip(*(c.to_pylist() for c in batch.columns), strict=True)
    return [*((line, tuple(v)) for line, v in zip(batch.lines.to_pylist(), values, strict=True)), *batch.errors]


def by_batches(case: Case, **options: int) -> tuple[list[Row], UnreadableFile | None]:
    rows: list[Row] = []
    batch_rows = options.get("batch_rows", 65_536)
    try:
        for batch in read_batches(source(case), io.BytesIO(case.data), case.columns, **options):
            rows.extend(flatten(batch, len(case.columns), batch_rows))
    except UnreadableFile as exc:
        return rows, exc
    return rows, None


def assert_same(case: Case, **options: int) -> list[Row]:
    expected, expected_failure = per_row(case)
    got, failure = by_batches(case, **options)
    assert sorted(got, key=key) == sorted(expected, key=key)
    if expected_failure is None:
        assert failure is None
    else:
        assert failure is not None, "read_part raised, read_batches did not"
        assert (str(failure), failure.line, failure.records, failure.blob) == (
            str(expected_failure),
            expected_failure.line,
            expected_failure.records,
            expected_failure.blob,
        )
    return expected


OPTIONS = [{}, {"block_bytes": 4096, "batch_rows": 7}, {"block_bytes": 97, "batch_rows": 1000}]


# ---- (a) the hostile inputs of the unit and e2e tests --------------------------------------------------


def hostile_csv() -> list[Case]:
    unterminated = [f"{e},N" for e in GOOD]
    unterminated[1] = f'{GOOD[1]},"Bob'
    filler = [f"f{i:06d}@example.com,{'x' * 60}" for i in range(3000)]
    e2e_a = [good(i) for i in range(50)]
    e2e_a[1] = 'h0001@example.com,"Bob,Lovelace,Oslo,Norway'
    e2e_b = [
        good(100),
        "h0101@example.com,Jos\udce9,Lovelace,Oslo,Norway",
        "h0102@example.com,A\x00B,Lovelace,Oslo,Norway",
        "h0103@example.com," + "x" * (LINE_LIMIT + 10) + ",L,Oslo,Norway",
        'h0104@example.com,"' + "y" * (FIELD_LIMIT + 10) + '",L,Oslo,Norway',
        csv_row(["h0105@example.com", *FORMULAS]),
        "=1+2,Formula,In,The,Email",
        "h0100@ex\u0430mple.com,Look,Alike,Oslo,Norway",
        "h0106@b\u00fccher.de,Idn,Domain,Oslo,Norway",
        good(107),
    ]
    return [
        Case("unterminated", "csv", csv_bytes(unterminated)),
        Case("unterminated_filler", "csv", csv_bytes([f'{GOOD[0]},"Bob', *filler, f"{GOOD[1]},Ada"])),
        Case("not_utf8", "csv", b"email,first_name,notes\nu1@example.com,Jos\xe9,x\nu2@example.com,Ana,\xff\xfe\n"),
        Case("nul", "csv", b"email,first_name\nu1@example.com,A\x00B\nu2@example.com,Ana\n"),
        Case(
            "oversized",
            "csv",
            csv_bytes(
                [
                    f"u1@example.com,{'x' * (FIELD_LIMIT + 10)}",
                    f"u2@example.com,{'y' * (LINE_LIMIT + 5)}",
                    "u3@example.com,Ok",
                ]
            ),
        ),
        Case("dup_header", "csv", csv_bytes(["a@example.com,A,b@example.com"] * 2, "email,first_name,Email")),
        Case("dup_unmapped", "csv", csv_bytes(["a@example.com,A,1,2"], "email,first_name,x,x")),
        Case("missing", "csv", csv_bytes(["a@example.com,x", "b@example.com,y"], "email,city")),
        Case(
            "blank_quoted_crlf",
            "csv",
            b'email,first_name\r\nu1@example.com,"a ""q"" b"\r\nu2@example.com,"multi\r\nline"\r\n\r\n'
            b"u3@example.com,x\r\n",
        ),
        Case(
            "field_counts",
            "csv",
            csv_bytes(["u1@example.com", 'u2@example.com,"a"b', "u3@example.com,A,B", "u4@example.com,D"]),
        ),
        Case("e2e_a", "csv", csv_file(e2e_a), tuple(E2E_COLUMNS)),
        Case("e2e_b", "csv", csv_file(e2e_b), tuple(E2E_COLUMNS)),
        Case("e2e_c", "csv", csv_file([good(200) + ",x@example.com"] * 2, HEADER + ",Email"), tuple(E2E_COLUMNS)),
        Case(
            "cdm_bad_quote",
            "cdm_csv",
            b'u1@example.com,Ada\nu2@example.com,"Bob\n',
            part={"columns": tuple(COLUMNS), "has_header": False},
        ),
        Case(
            "cdm_missing",
            "cdm_csv",
            b"a@example.com,x\n",
            ("email", "city"),
            {"columns": tuple(COLUMNS), "has_header": False},
        ),
        Case("cdm_empty_missing", "cdm_csv", b"", ("email", "city"), {"columns": tuple(COLUMNS), "has_header": False}),
        Case("cdm_header", "cdm_csv", b"E,F\na@example.com,x\n", part={"columns": tuple(COLUMNS), "has_header": True}),
        Case(
            "cdm_quoted_header",
            "cdm_csv",
            b'"E\nF",G\na@example.com,x\n',
            part={"columns": tuple(COLUMNS), "has_header": True},
        ),
        Case(
            "cdm_bom_tab",
            "cdm_csv",
            b"\xef\xbb\xbfa@example.com\tx\nb@example.com\ty\n",
            part={"columns": tuple(COLUMNS), "has_header": False, "delimiter": "\t"},
        ),
        # (d) BOM, CRLF, quoting, a lone \r, blank and whitespace lines, odd headers, empty files.
        Case("bom_crlf", "csv", b"\xef\xbb\xbfemail,first_name\r\na@example.com,A\r\nb@example.com,B"),
        Case("bom_twice", "csv", b"\xef\xbb\xbfemail,first_name\n\xef\xbb\xbfa@example.com,A\n"),
        Case(
            "quoted_commas",
            "csv",
            b'email,first_name,notes\na@example.com,"Smith, ""Jo""",x\n"b@example.com",,"a,b"\nc@example.com,"",\n',
        ),
        Case("quote_newline", "csv", b'email,first_name\na@example.com,"two\nlines"\nb@example.com,B\n'),
        Case("quote_inside", "csv", b'email,first_name\na@example.com,O"Brien\nb@example.com," B"\n'),
        Case("lone_cr", "csv", b"email,first_name\ra@example.com,A\rb@example.com,B\n"),
        Case("whitespace_lines", "csv", b"email,first_name\n  \na@example.com,A\n\t\nb@example.com,B\n\n"),
        Case("one_column_blanks", "csv", b"email\n\n  \na@example.com\n", ("email",)),
        Case("empty", "csv", b""),
        Case("quoted_header", "csv", b'"email","first ""name""",x\r\n"a@example.com","A",1\r\n'),
        Case("quoted_header_odd", "csv", b'"email","first_name"x\na@example.com,A\n', ("email",)),
        Case(
            "tricky_quotes",
            "csv",
            b'email,first_name\n"""a""",""""\n"x""",""\n"",""\n""a"",b\nc,"d"""\n"e""f"",g",h\n',
        ),
        Case("unclosed_last", "csv", b'email,first_name\na@example.com,"B'),
        Case("quote_at_end", "csv", b'email,first_name\na@example.com,"B"'),
        Case(
            "pipe",
            "cdm_csv",
            b'a|"b|c"\nd|e\n',
            part={"columns": tuple(COLUMNS), "has_header": False, "delimiter": "|"},
        ),
        Case(
            "multibyte_delimiter",
            "cdm_csv",
            "a\u00a6b\nc\u00a6d\n".encode(),
            part={"columns": tuple(COLUMNS), "has_header": False, "delimiter": "\u00a6"},
        ),
        Case("header_only", "csv", b"email,first_name"),
        Case("blank_header", "csv", b"\nemail,first_name\na@example.com,A\n"),
        Case("header_not_utf8", "csv", b"email,first_name,n\xe9\na@example.com,A,x\n"),
        Case("header_nul", "csv", b"email,first_name,n\x00\na@example.com,A,x\n"),
        Case("unicode", "csv", "email,first_name\nj@example.com,José\nk@example.com,Zoë 🙂\n".encode()),
        Case("same_column_twice", "csv", b"email,first_name\na@example.com,A\n", ("email", "first_name", "EMAIL ")),
    ]


def hostile_jsonl() -> list[Case]:
    hostile = (
        jsonl_bytes([{"email": "u1@example.com", "first_name": "A"}])
        + b'{"email": "u2@example.com", "first_name": "Jos\xe9"}\n'
        + jsonl_bytes([{"email": "u3@example.com", "first_name": "A\x00B"}, {"email": "u4@example.com"}])
        + b'{"email": "u5@example.com", "first_name": "unterminated\n'
        + jsonl_bytes(
            [
                {"email": "u6@example.com", "first_name": {"nested": 1}},
                {"email": "u7@example.com", "Email": "x@example.com", "first_name": "A"},
                ["not", "an", "object"],  # type: ignore[list-item]
            ]
        )
        + b"\n"
        + jsonl_bytes([{"email": "u8@example.com", "first_name": "Z" * 10}])
    )
    e2e_e = [
        json.dumps({"email": "h0800@example.com", "first_name": "J", "last_name": "L", "city": "C", "country": "N"}),
        json.dumps({"email": "h0801@example.com", "first_name": "J", "last_name": "L"}),
        '{"email": "h0802@example.com", "first_name": ',
        json.dumps({"email": "h0803@example.com", "first_name": {"a": 1}, "last_name": "L", "city": "C"}),
    ]
    numbers = jsonl_bytes(
        [
            {"email": "a@example.com", "first_name": 1.0},
            {"email": "b@example.com", "first_name": 1.5},
            {"email": "c@example.com", "first_name": True},
            {"email": "d@example.com", "first_name": None},
            {"email": "e@example.com", "first_name": 10**30},
            {"EMAIL ": "f@example.com", "First_Name": "F", "other": [1]},
            {"email": "g@example.com", "first_name": "\u00e9\ud83d\ude42", "x": {"y": 1}},
            {"email": "h@example.com", "first_name": 1e-7},
        ]
    )
    return [
        Case("hostile", "jsonl", hostile),
        Case("missing", "jsonl", jsonl_bytes([{"email": "a@example.com"}, {"email": "b@example.com", "city": "O"}])),
        Case(
            "long_line",
            "jsonl",
            jsonl_bytes(
                [
                    {"email": "a@example.com", "first_name": "x" * LINE_LIMIT},
                    {"email": "b@example.com", "first_name": "B"},
                ]
            ),
        ),
        Case("e2e_e", "jsonl", ("\n".join(e2e_e) + "\n").encode(), tuple(E2E_COLUMNS)),
        Case("numbers_and_keys", "jsonl", numbers),
        Case(
            "bom_blank_crlf",
            "jsonl",
            b'\xef\xbb\xbf{"email": "a@example.com", "first_name": "A"}\r\n\r\n  \n{"email": "b"}',
        ),
        Case(
            "escapes",
            "jsonl",
            b'{"email": "a@example.com", "first_name": "\\u0000"}\n'
            b'{"email": "b@example.com", "first_name": "\\udce9"}\n'
            b'{"email": "c@example.com", "first_name": "q\\"\\n"}\n',
        ),
        Case("empty", "jsonl", b""),
        Case("empty_objects", "jsonl", b'{}\n{"email": "a@example.com", "first_name": null}\n{}\n'),
        Case("only_empty_objects", "jsonl", b"{}\n{}\n"),
        Case(
            "control", "jsonl", b'{"email": "a@example.com", "first_name": "x\x01y"}\n{"email":\x0b"b@example.com"}\n'
        ),
        Case("crlf", "jsonl", b'{"email": "a@example.com", "first_name": "A"}\r\n{"email": "b@example.com"}\r\n'),
        Case("two_objects", "jsonl", b'{"email": "a@example.com"}{"email": "b"}\n{"first_name": "x"}\n'),
        Case(
            "dates",
            "jsonl",
            jsonl_bytes([{"email": f"{i}@example.com", "first_name": f"2020-01-0{i} 10:00:00"} for i in range(1, 9)]),
        ),
    ]


def hostile_parquet() -> list[Case]:
    values = pa.table(
        {
            "email": ["u1@example.com", "u2@example.com", "u3@example.com", "u4@example.com"],
            "first_name": pa.array([b"Ana", b"Jos\xe9", b"A\x00B", None], type=pa.binary()),
            "age": [30, None, 2, 3],
        }
    )
    twice = pa.Table.from_arrays(
        [pa.array(["a@example.com"]), pa.array(["A"]), pa.array(["B"])], names=["email", "first_name", "first_name"]
    )
    kinds = pa.table(
        {
            "email": pa.array(["a@example.com", None, "c@example.com"], pa.large_string()),
            "first_name": pa.array([True, None, False]),
            "n": pa.array([1, -(2**63), None], pa.int64()),
            "u": pa.array([0, 2**64 - 1, 7], pa.uint64()),
            "f": pa.array([1.0, 1.5, 1e20]),
            "nul": pa.array(["x", "y\x00", "z"]),
        }
    )
    data = parquet_bytes(pa.table({"email": ["a@example.com"], "first_name": ["A"]}))
    return [
        Case("values", "parquet", parquet_bytes(values), ("email", "first_name", "age")),
        Case(
            "nested", "parquet", parquet_bytes(pa.table({"email": ["a@example.com"], "first_name": pa.array([["x"]])}))
        ),
        Case("missing", "parquet", parquet_bytes(pa.table({"email": ["a@example.com"] * 3, "city": ["x"] * 3}))),
        Case("twice", "parquet", parquet_bytes(twice)),
        Case("damaged", "parquet", data[: len(data) // 2]),
        Case("kinds", "parquet", parquet_bytes(kinds), ("email", "first_name", "n", "u")),
        Case("floats", "parquet", parquet_bytes(kinds), ("email", "f")),
        Case("nul", "parquet", parquet_bytes(kinds), ("email", "nul")),
        Case(
            "e2e_g",
            "parquet",
            parquet_bytes(
                pa.table({"email": ["h1000@example.com", "h1001@example.com"], "first_name": ["Ok", "N\x00L"]})
            ),
        ),
    ]


def gzipped(cases: list[Case]) -> list[Case]:
    return [Case(c.name, f"{c.fmt}.gz", gzip.compress(c.data), c.columns, c.part) for c in cases if c.fmt != "cdm_csv"]


NOT_GZIP = [Case("not_gzip", "csv.gz", b"email,first_name\na@example.com,A\n"), Case("not_gzip", "jsonl.gz", b"{}\n")]
HOSTILE = [
    *NOT_GZIP,
    *hostile_csv(),
    *gzipped(hostile_csv()),
    *hostile_jsonl(),
    *gzipped(hostile_jsonl()),
    *hostile_parquet(),
]


@pytest.mark.parametrize("options", OPTIONS, ids=["default", "small_blocks", "tiny_blocks"])
@pytest.mark.parametrize("case", HOSTILE, ids=[f"{c.fmt}-{c.name}" for c in HOSTILE])
def test_hostile_inputs_read_the_same(case: Case, options: dict[str, int]) -> None:
    assert_same(case, **options)


def test_the_hostile_cases_do_reach_every_outcome() -> None:
    """The differential test above proves nothing on cases that fail nowhere: check that they do."""
    outcomes = [per_row(c) for c in HOSTILE]
    assert sum(1 for _, failure in outcomes if failure is not None) >= 10
    assert sum(1 for rows, _ in outcomes for r in rows if isinstance(r, RowError)) >= 40


# ---- truncated gzip: the failure and what was yielded before it are the same -----------------------------


@pytest.mark.parametrize("fmt", ["csv.gz", "jsonl.gz"])
@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_truncated_gzip_fails_after_the_same_rows(fmt: str, keep: float) -> None:
    rows = list(segment_rows(0, 20_000, 3, invalid_every=0, duplicate_every=0))
    text = csv_text(rows) if fmt == "csv.gz" else jsonl_text(rows)
    packed = gzip.compress(text)
    case = Case("cut", fmt, packed[: int(len(packed) * keep)], SAMPLE_COLUMNS)
    expected = assert_same(case, block_bytes=4096, batch_rows=500)
    assert len(expected) > 100 and per_row(case)[1] is not None


# ---- (b) generated clean files of each format ----------------------------------------------------------


def csv_text(rows: list[dict[str, str]], header: bool = True) -> bytes:
    lines = [",".join(SAMPLE_COLUMNS)] if header else []
    lines += [",".join(row[c] for c in SAMPLE_COLUMNS) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def jsonl_text(rows: list[dict[str, str]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def clean_cases() -> list[Case]:
    rows = list(segment_rows(0, 5_000, 11, invalid_every=97, duplicate_every=53))
    table = pa.Table.from_pylist(rows)
    cdm = {"columns": tuple(SAMPLE_COLUMNS), "has_header": False}
    wanted = ("email", "city", "first_name")
    quoted = io.StringIO()
    writer = csv.writer(quoted, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(SAMPLE_COLUMNS)
    for i, row in enumerate(rows):
        writer.writerow([f'{v}, "{i}"' if i % 7 == 0 and c == "city" else v for c, v in row.items()])
    return [
        Case("clean", "csv", csv_text(rows), wanted),
        Case("quoted_crlf", "csv", b"\xef\xbb\xbf" + quoted.getvalue().encode(), wanted),
        Case("clean", "csv.gz", gzip.compress(csv_text(rows)), wanted),
        Case("clean", "cdm_csv", csv_text(rows, header=False), wanted, cdm),
        Case("clean", "jsonl", jsonl_text(rows), wanted),
        Case("clean", "jsonl.gz", gzip.compress(jsonl_text(rows)), wanted),
        Case("clean", "parquet", parquet_bytes(table), wanted),
    ]


CLEAN = clean_cases()


@pytest.mark.parametrize("options", OPTIONS[:2], ids=["default", "small_blocks"])
@pytest.mark.parametrize("case", CLEAN, ids=[f"{c.fmt}-{c.name}" for c in CLEAN])
def test_clean_files_read_the_same(case: Case, options: dict[str, int]) -> None:
    rows = assert_same(case, **options)
    assert len(rows) == 5_094 and not any(isinstance(r, RowError) for r in rows)


@pytest.mark.parametrize("case", [c for c in CLEAN if "csv" in c.fmt], ids=lambda c: f"{c.fmt}-{c.name}")
def test_clean_csv_never_reaches_the_per_row_reader(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the per-row reader was used on a clean file")

    monkeypatch.setattr(arrow_csv, "read_csv_text", refuse)
    got, failure = by_batches(case, block_bytes=4096, batch_rows=300)
    assert failure is None and len(got) == 5_094


# ---- (c) the first anomaly after several clean blocks ---------------------------------------------------


ANOMALIES: dict[str, Callable[[str], str]] = {
    "nul": lambda line: line.replace("@", "\x00@", 1),
    "not_utf8": lambda line: line.replace("example", "ex\udce9mple", 1),
    "quote_newline": lambda line: line.replace(",", ',"two\nlines",', 1),
    "unterminated": lambda line: line.replace(",", ',"', 1),
    "blank_after": lambda line: line + "\n",
    "lone_cr": lambda line: line.replace(",", "\r", 1),
    "field_count": lambda line: line + ",extra",
    "quoted_comma": lambda line: ",".join([line.split(",")[0], '"a, ""b"""', *line.split(",")[2:]]),
}


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "cdm_csv"])
@pytest.mark.parametrize("anomaly", sorted(ANOMALIES))
def test_an_anomaly_after_clean_blocks_continues_the_line_numbers(
    fmt: str, anomaly: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = list(segment_rows(0, 3_000, 5, invalid_every=0, duplicate_every=0))
    lines = [",".join(row[c] for c in SAMPLE_COLUMNS) for row in rows]
    lines[2_000] = ANOMALIES[anomaly](lines[2_000])
    header = [] if fmt == "cdm_csv" else [",".join(SAMPLE_COLUMNS)]
    data = ("\n".join([*header, *lines]) + "\n").encode("utf-8", "surrogateescape")
    part = {"columns": tuple(SAMPLE_COLUMNS), "has_header": False} if fmt == "cdm_csv" else {}
    case = Case(anomaly, fmt, gzip.compress(data) if fmt == "csv.gz" else data, ("email", "phone"), part)

    resumed: list[int] = []
    real = arrow_csv.read_csv_text

    def spy(*args: object, **kwargs: object) -> object:
        resumed.append(int(kwargs.get("after", 0)))  # type: ignore[call-overload]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(arrow_csv, "read_csv_text", spy)
    assert_same(case, block_bytes=4096, batch_rows=256)
    if anomaly == "quoted_comma":
        assert resumed == []  # a quoted value on one line is still Arrow's
    else:
        # The per-row reader took over part-way, at a block boundary before the anomaly.
        assert len(resumed) == 1 and 1_500 < resumed[0] <= 2_001


def test_a_quote_newline_value_in_the_first_block() -> None:
    data = b'email,first_name\na@example.com,"x\ny"\n' + csv_bytes([f"{e},N" for e in GOOD], "")[1:]
    rows = assert_same(Case("qn", "csv", data), block_bytes=64, batch_rows=5)
    assert rows[0] == (2, ("a@example.com", "x\ny")) and rows[1] == (4, (GOOD[0], "N"))


JSON_ANOMALIES: dict[str, Callable[[str], str]] = {
    "float": lambda line: line.replace('"phone": "', '"phone": 1.5, "x": "', 1),
    "nested": lambda line: line.replace('"phone": "', '"phone": {"a": 1}, "x": "', 1),
    "case_twin": lambda line: line.replace('"city"', '"City"', 1),
    "both_spellings": lambda line: line.replace("{", '{"EMAIL": "x@example.com", ', 1),
    "bad_json": lambda line: line[:-1],
    "blank_after": lambda line: line + "\n  ",
    "not_utf8": lambda line: line.replace("example", "ex\udce9mple", 1),
    "escaped_nul": lambda line: line.replace("example", "ex\\u0000mple", 1),
    "timestamp": lambda line: line.replace('"city": "', '"city": "2020-01-01", "x": "', 1),
    "integer": lambda line: line.replace('"phone": "', '"phone": 42, "x": "', 1),
}


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
@pytest.mark.parametrize("anomaly", sorted(JSON_ANOMALIES))
def test_a_json_anomaly_after_clean_blocks_continues_the_line_numbers(fmt: str, anomaly: str) -> None:
    rows = list(segment_rows(0, 3_000, 5, invalid_every=0, duplicate_every=0))
    lines = [json.dumps(row) for row in rows]
    lines[2_000] = JSON_ANOMALIES[anomaly](lines[2_000])
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    case = Case(anomaly, fmt, gzip.compress(data) if fmt == "jsonl.gz" else data, ("email", "phone", "city"))
    rows_read = assert_same(case, block_bytes=4096, batch_rows=256)
    assert len(rows_read) == 3_000


@pytest.mark.parametrize("case", [c for c in CLEAN if "jsonl" in c.fmt], ids=lambda c: c.fmt)
def test_clean_jsonl_never_reaches_the_per_row_reader(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the per-row reader was used on a clean file")

    monkeypatch.setattr(arrow_jsonl, "read_jsonl_lines", refuse)
    got, failure = by_batches(case, block_bytes=4096, batch_rows=300)
    assert failure is None and len(got) == 5_094


def test_a_mapped_key_first_seen_after_the_fast_blocks_is_found() -> None:
    lines = [json.dumps({"email": f"u{i}@example.com"}) for i in range(2_000)]
    lines.append(json.dumps({"email": "late@example.com", "first_name": [1]}))
    case = Case("late", "jsonl", ("\n".join(lines) + "\n").encode())
    rows = assert_same(case, block_bytes=4096, batch_rows=100)
    assert rows[-1] == RowError(2_001, "'first_name' holds a JSON list, not a single value")
    missing = Case("never", "jsonl", ("\n".join(lines[:-1]) + "\n").encode())
    _, failure = by_batches(missing, block_bytes=4096)
    assert failure is not None and failure.records == 2_000
    assert_same(missing, block_bytes=4096)


def test_parquet_converts_clean_batches_and_only_the_odd_one_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    count = 70_000  # two of the reader's Parquet batches
    names = pa.array([f"N{i}" for i in range(count)])
    names = pa.concat_arrays([names.slice(0, 68_000), pa.array(["A\x00B"]), names.slice(68_001)])
    table = pa.table({"email": [f"u{i}@example.com" for i in range(count)], "first_name": names, "n": range(count)})
    case = Case("two_batches", "parquet", parquet_bytes(table), ("email", "first_name", "n"))
    per_row_batches: list[int] = []
    real = arrow_parquet.batch_rows_of

    def spy(batch: pa.RecordBatch, *args: object) -> object:
        per_row_batches.append(batch.num_rows)
        return real(batch, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(arrow_parquet, "batch_rows_of", spy)
    rows = assert_same(case, batch_rows=10_000)
    assert RowError(68_002, "'first_name' contains a NUL byte") in rows and len(rows) == count
    assert per_row_batches == [count - 65_536]  # the first batch went column-wise


@pytest.mark.parametrize(
    ("block", "fast"),
    [
        (b'{"a":"x"}\n{"a":"y"}\n', True),
        (b'{"a":"x"}\n{"a":"y"}', True),
        (b'{"a":"x\\\\y"}\n{"a":"\\"q\\""}\n', True),  # backslashes that escape nothing the checker minds
        (b'{"a":"x"}\r\n{"a":"y"}\r\n', True),
        (b'{"a":"x"}\n\n{"a":"y"}\n', False),  # a blank line
        (b'{"a":"x"}\n {"a":"y"}\n', False),  # a line that does not start with "{"
        (b'{"a":"x"} \n{"a":"y"}\n', False),  # a line that does not end with "}"
        (b'{"a":"x"}\n"text"\n{"a":"y"}\n', False),
        (b'{"a":"x"}\r{"a":"y"}\n', False),  # a lone \r
        (b'{"a":"\\u0000"}\n', False),
        (b'{"a":"\\ud800"}\n', False),
    ],
)
def test_a_jsonl_block_is_fast_only_when_every_line_is_one_object(block: bytes, fast: bool) -> None:
    # The fast path's own check, looked at directly: Arrow happens to refuse some of these blocks too,
    # so reading them through read_batches alone would not show a check that let them through.
    from shared.segments.arrow_jsonl import _clean

    assert _clean(block) is fast
