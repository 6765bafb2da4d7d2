"""A hostile new user's export, end to end (in-process orchestration, Azurite, the SendGrid simulator):
malformed CSV, bytes that are not UTF-8, NUL bytes, multi-megabyte lines, duplicate and missing
columns, cut-short compression, CDM adapter paths, formula payloads, IDN and look-alike addresses, a
segment path that tries to leave its container, and a vendor that echoes the credential.

Each test checks the invariant against the files themselves: every data row is read with exactly
one outcome, or belongs to a file the report names as held back — nothing is lost — and the vendor's
list ends exactly as expected.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import logging
import zlib
from collections.abc import Iterator
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from devtools.local_env import LocalEnv, local_env
from shared.models import RunStatus
from shared.pipeline.commit import CommitRequest, commit_run
from shared.pipeline.finish import finish_partition
from shared.pipeline.plan import load_plan
from shared.scrub import Scrubber
from shared.segments import FIELD_LIMIT, LINE_LIMIT

pytestmark = pytest.mark.e2e

HEADER = "email,first_name,last_name,city,country"
FORMULAS = ['=HYPERLINK("http://x.test","y")', "+1+2", "-3+4", "@SUM(A1)"]  # one per mapped field
CANARY = "SG.cAnArY7x2Q9wLm4Rt8Zp1Vb.K3nJ6hF0dS5aY2uE9iO4pW7qT1rX8zC6vB3mN0lK5"


@pytest.fixture
def env(azurite: str) -> Iterator[LocalEnv]:
    # The multi-megabyte lines would size the run at dozens of partitions; one keeps it quick.
    settings = {"rows_per_partition": 1_000_000, "first_poll_seconds": 0.05, "max_poll_seconds": 0.2}
    with local_env("sendgrid", azurite, simulator_options={"job_delay": 0.05}, settings=settings) as environment:
        yield environment


def good(i: int) -> str:
    return f"h{i:04d}@example.com,Ada,Lovelace,Oslo,Norway"


def csv_file(rows: list[str], header: str = HEADER) -> bytes:
    # surrogateescape: a lone surrogate U+DC80..U+DCFF in ``rows`` is written as that raw byte
    return ("\n".join([header, *rows]) + "\n").encode("utf-8", "surrogateescape")


def csv_row(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def readable_lines(truncated: bytes) -> int:
    """Complete lines a gzip stream cut short still yields (what any reader could have seen)."""
    data = zlib.decompressobj(wbits=31).decompress(truncated)
    return data.count(b"\n")


def seed_hostile(env: LocalEnv) -> dict[str, object]:
    """Write the hostile segments; return what a correct run must show."""
    put = env.runtime.segments.write_bytes
    expected: set[str] = set()
    rows_in_files = 0
    invalid: dict[tuple[str, int], str] = {}  # (blob, line) → reason
    held: dict[str, int] = {}  # blob → rows it holds

    # CSV: an unterminated quote on line 3 of 50 rows costs that row only.
    rows = [good(i) for i in range(50)]
    rows[1] = 'h0001@example.com,"Bob,Lovelace,Oslo,Norway'
    put("segments/csv/a.csv", csv_file(rows))
    rows_in_files += 50
    invalid[("segments/csv/a.csv", 3)] = "a quoted value that starts on this line is never closed"
    expected |= {f"h{i:04d}@example.com" for i in range(50) if i != 1}

    # CSV: one row per hostile value, among good ones.
    lookalike = "h0100@ex\u0430mple.com"  # Cyrillic "а": not the ASCII twin, never merged with it
    hostile = [
        good(100),  # the ASCII twin of the look-alike
        "h0101@example.com,Jos\udce9,Lovelace,Oslo,Norway",  # a Latin-1 byte in a name
        "h0102@example.com,A\x00B,Lovelace,Oslo,Norway",
        "h0103@example.com," + "x" * (LINE_LIMIT + 10) + ",L,Oslo,Norway",  # a multi-megabyte single line
        'h0104@example.com,"' + "y" * (FIELD_LIMIT + 10) + '",L,Oslo,Norway',  # over the csv module's limit
        csv_row(["h0105@example.com", *FORMULAS]),  # formula payloads in every mapped field: sent verbatim
        "=1+2,Formula,In,The,Email",  # invalid, and neutralised in the rejected-rows file
        f"{lookalike},Look,Alike,Oslo,Norway",
        "h0106@b\u00fccher.de,Idn,Domain,Oslo,Norway",  # IDN: no vendor documents accepting it
        good(107),
    ]
    put("segments/csv/b.csv", csv_file(hostile))
    rows_in_files += len(hostile)
    blob = "segments/csv/b.csv"
    invalid[(blob, 3)] = "'first_name' is not valid UTF-8 (byte 0xE9); save the file as UTF-8"
    invalid[(blob, 4)] = "'first_name' contains a NUL byte"
    invalid[(blob, 5)] = f"line 5 is longer than {LINE_LIMIT} characters"
    invalid[(blob, 6)] = f"a value is longer than {FIELD_LIMIT} characters (often a quoted value that is never closed)"
    invalid[(blob, 8)] = "malformed email address"
    invalid[(blob, 9)] = (
        "malformed email address: it has non-ASCII characters, which the vendors do not document accepting"
    )
    invalid[(blob, 10)] = invalid[(blob, 9)]
    expected |= {"h0100@example.com", "h0105@example.com", "h0107@example.com"}

    # CSV: two email columns — which one is meant? The file is held back, naming the column.
    put("segments/csv/c.csv", csv_file([good(200) + ",x@example.com", good(201) + ",y@example.com"], HEADER + ",Email"))
    rows_in_files += 2
    held["segments/csv/c.csv"] = 2

    # CSV.gz cut short: held back; its rows are those any reader could decompress.
    packed = gzip.compress(csv_file([good(i) for i in range(300, 700)]))
    truncated = packed[: len(packed) // 2]
    put("segments/csv/d.csv.gz", truncated)
    rows_in_files += readable_lines(truncated) - 1
    held["segments/csv/d.csv.gz"] = readable_lines(truncated) - 1

    # JSON Lines: a line without a key other lines have is an empty value; a bad line is invalid.
    lines = [
        json.dumps({"email": "h0800@example.com", "first_name": "J", "last_name": "L", "city": "C", "country": "N"}),
        json.dumps({"email": "h0801@example.com", "first_name": "J", "last_name": "L"}),
        '{"email": "h0802@example.com", "first_name": ',
        json.dumps(
            {"email": "h0803@example.com", "first_name": {"a": 1}, "last_name": "L", "city": "C", "country": "N"}
        ),
    ]
    put("segments/jsonl/e.jsonl", ("\n".join(lines) + "\n").encode())
    rows_in_files += 4
    expected |= {"h0800@example.com", "h0801@example.com"}
    invalid[("segments/jsonl/e.jsonl", 3)] = "not a valid JSON line ("  # then the parser's own words
    invalid[("segments/jsonl/e.jsonl", 4)] = "'first_name' holds a JSON dict, not a single value"

    # JSON Lines.gz where no line has a mapped column: the file is held back naming the column.
    missing = [
        json.dumps({"email": f"h09{i:02d}@example.com", "first_name": "J", "last_name": "L", "city": "C"})
        for i in range(5)
    ]
    put("segments/jsonl/f.jsonl.gz", gzip.compress(("\n".join(missing) + "\n").encode()))
    rows_in_files += 5
    held["segments/jsonl/f.jsonl.gz"] = 5

    # Parquet with a NUL in a name.
    sink = io.BytesIO()
    table = pa.table(
        {
            "email": ["h1000@example.com", "h1001@example.com"],
            "first_name": ["Ok", "N\x00L"],
            "last_name": ["L", "L"],
            "city": ["C", "C"],
            "country": ["N", "N"],
        }
    )
    pq.write_table(table, sink)
    put("segments/parquet/g.parquet", sink.getvalue())
    rows_in_files += 2
    expected.add("h1000@example.com")
    invalid[("segments/parquet/g.parquet", 3)] = "'first_name' contains a NUL byte"

    # CDM as Microsoft's object model writes it: adapter paths; one partition path is wrong.
    attributes = [{"name": n} for n in HEADER.split(",")]
    put(
        "segments/cdm/Customer.cdm.json",
        json.dumps({"definitions": [{"entityName": "Customer", "hasAttributes": attributes}]}).encode(),
    )
    put(
        "segments/cdm/default.manifest.cdm.json",
        json.dumps(
            {
                "manifestName": "default",
                "entities": [
                    {
                        "type": "LocalEntity",
                        "entityName": "Customer",
                        "entityPath": "local:/Customer.cdm.json/Customer",
                        "dataPartitions": [
                            {"location": "adls:/segments/cdm/Customer/part-0.csv"},
                            {"location": "local:/Customer/part-9.csv"},
                        ],
                    }
                ],
            }
        ).encode(),
    )
    put("segments/cdm/Customer/part-0.csv", (good(1100) + "\n" + good(1101) + "\n").encode())
    rows_in_files += 2
    expected |= {"h1100@example.com", "h1101@example.com"}
    held["segments/cdm/default.manifest.cdm.json"] = 0

    return {"expected": expected, "rows_in_files": rows_in_files, "invalid": invalid, "held": held}


async def test_hostile_export_loses_nothing_and_the_list_ends_as_expected(env: LocalEnv) -> None:
    env.add_connection()
    truth = seed_hostile(env)
    env.add_export(segments=["segments/csv", "segments/jsonl", "segments/parquet", "segments/cdm"])

    _, report = await env.run("weekly")

    assert report is not None
    held = {h.blob: h for h in report.held_back}
    # Invariant against the files: read rows have exactly one outcome; the rest are in held-back files.
    assert report.outcomes.total() == report.profiles_read
    assert report.profiles_read + sum(h.rows for h in report.held_back) == truth["rows_in_files"]
    assert {b: h.rows for b, h in held.items()} == truth["held"]
    assert "'email' appears 2 times in the header" in held["segments/csv/c.csv"].reason
    assert held["segments/csv/c.csv"].line == 1
    assert "cut short" in held["segments/csv/d.csv.gz"].reason and held["segments/csv/d.csv.gz"].line
    assert "'country' not found in any line" in held["segments/jsonl/f.jsonl.gz"].reason
    assert held["segments/cdm/default.manifest.cdm.json"].reason == (
        "entity 'Customer': data partition 'local:/Customer/part-9.csv' is not a file of the segment folder "
        "'segments/cdm'"
    )
    assert report.status is RunStatus.COMPLETED_WITH_ERRORS
    assert len(report.errors) == len(held) and all(e.startswith("held back ") for e in report.errors)

    # The vendor's list is exactly the expected set; formula payloads arrived verbatim.
    members = env.simulator.members(env.target_id)
    assert set(members) == truth["expected"]
    assert report.outcomes.upserted == len(truth["expected"])
    formula_row = members["h0105@example.com"]
    assert [formula_row[f] for f in ("first_name", "last_name", "city", "country")] == FORMULAS
    assert members["h0801@example.com"].get("city", "") == ""

    # Every invalid row is in the rejected-rows file with its file, line and reason; formulas neutralised.
    with io.StringIO(env.runtime.store.read_bytes(report.rejected_rows_blob or "").decode()) as text:
        rejected = list(csv.DictReader(text))
    found = {(r["blob"], int(r["line"])): r["reason"] for r in rejected if r["outcome"] == "invalid"}
    for where, reason in truth["invalid"].items():  # type: ignore[attr-defined]
        assert found.get(where, "").startswith(reason), (where, found.get(where))
        assert reason.endswith("(") or found[where] == reason
    assert report.outcomes.invalid == len(found) == len(truth["invalid"])  # type: ignore[arg-type]
    assert any(r["email"] == "'=1+2" for r in rejected)
    assert sum(1 for r in rejected if r["outcome"] == "file held back") == len(held)
    assert report.outcomes.duplicate == 0  # the look-alike was not merged with its ASCII twin


async def test_every_row_rejected_is_a_failed_run_and_is_retried(env: LocalEnv) -> None:
    env.add_connection()
    env.runtime.segments.write_bytes("segments/csv/a.csv", csv_file([good(i) for i in range(3)]))
    env.add_export(segments=["segments/csv"])
    refusal = {"errors": [{"field": f"contacts[{i}].first_name", "message": "refused"} for i in range(3)]}
    env.simulator.inject(400, method="PUT", body=refusal)

    _, report = await env.run("weekly")

    assert report is not None and report.status is RunStatus.FAILED
    assert report.outcomes.rejected == 3 == report.profiles_read
    _, again = await env.run("weekly")  # nothing was put in the snapshot: all sent again
    assert again is not None and again.status is RunStatus.SUCCEEDED and again.outcomes.upserted == 3


def test_a_segment_path_that_leaves_its_container_is_refused_naming_the_field(env: LocalEnv) -> None:
    env.add_connection()
    for path in ["../other-container/x", "/segments/abs", "segments/../../etc", "https://evil.test/c/x", "other:/x"]:
        with pytest.raises(ValidationError) as caught:
            env.add_export(segments=[path])
        assert caught.value.errors()[0]["loc"] == ("segments",), path
        assert "must be a folder path inside the segments container" in str(caught.value)


async def test_a_vendor_echoing_the_credential_leaves_it_in_no_blob_and_no_log(
    env: LocalEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env.simulator.api_key = CANARY
    env.add_connection()
    env.runtime.segments.write_bytes("segments/csv/a.csv", csv_file([good(i) for i in range(4)]))
    env.add_export(segments=["segments/csv"])
    basic = base64.b64encode(f"apikey:{CANARY}".encode()).decode()
    echoes = [f"key {CANARY} is not allowed", f"url ?key={quote(CANARY, safe='')}", f"Basic {basic}", CANARY[5:40]]
    env.simulator.inject(
        400,
        method="PUT",
        body={"errors": [{"field": f"contacts[{i}].first_name", "message": m} for i, m in enumerate(echoes)]},
    )
    caplog.set_level(logging.DEBUG)

    _, report = await env.run("weekly")

    assert report is not None and report.outcomes.rejected == 4
    scrubber = Scrubber([CANARY])
    store = env.runtime.store
    names = store.list_names("")
    assert any("/apply/" in n for n in names) and report.rejected_rows_blob in names
    leaked = [n for n in names if scrubber.leaks(store.read_bytes(n).decode("utf-8", "replace"))]
    assert leaked == []
    assert "[redacted]" in store.read_bytes(report.rejected_rows_blob or "").decode()
    assert not any(scrubber.leaks(r.getMessage()) for r in caplog.records)


async def test_finish_and_commit_run_again_count_nothing_twice(env: LocalEnv) -> None:
    env.add_connection()
    env.runtime.segments.write_bytes("segments/csv/a.csv", csv_file([good(i) for i in range(30)] + ["bad,x,y,z,w"]))
    env.add_export(segments=["segments/csv"])
    env.simulator.inject(
        400, method="PUT", body={"errors": [{"field": "contacts[0].first_name", "message": "refused"}]}
    )
    _, report = await env.run("weekly")
    assert report is not None and report.status is RunStatus.COMPLETED_WITH_ERRORS
    root = f"runs/weekly/{report.run_id}"
    plan = load_plan(env.runtime, root)
    store = env.runtime.store
    snapshot = store.read_bytes("snapshots/weekly/current.json")

    # A killed worker: the commit ran, or ran halfway (no report yet); both are run again.
    for drop_report in (False, True):
        if drop_report:
            store.delete(plan.paths.report)
        for k in range(plan.partitions):
            finish_partition(env.runtime, root, k, mode="applied", stop_reason="not sent")
        again = commit_run(env.runtime, CommitRequest(root=root, mode="applied"))
        assert again.outcomes == report.outcomes and again.profiles_read == report.profiles_read == 31
        assert again.status is report.status
        assert store.read_bytes("snapshots/weekly/current.json") == snapshot


async def test_a_mirror_run_with_a_damaged_file_stops_before_removing_its_contacts(env: LocalEnv) -> None:
    env.add_connection()
    put = env.runtime.segments.write_bytes
    put("segments/csv/a.csv", csv_file([good(i) for i in range(5)]))
    put("segments/csv/b.csv", csv_file([good(i) for i in range(5, 10)]))
    env.add_export(segments=["segments/csv"], sync_mode="mirror")
    _, first = await env.run("weekly")
    assert first is not None and first.status is RunStatus.SUCCEEDED and len(env.simulator.members(env.target_id)) == 10
    env.simulator.reset_log()
    put("segments/csv/b.csv", csv_file([good(i) + ",dup@example.com" for i in range(5, 10)], HEADER + ",email"))

    _, second = await env.run("weekly")

    assert second is not None and second.status is RunStatus.FAILED
    assert any("segments/csv/b.csv, line 1" in e and "mirror run cannot leave a file out" in e for e in second.errors)
    assert env.simulator.writes() == [] and len(env.simulator.members(env.target_id)) == 10
    assert second.outcomes.total() == second.profiles_read
