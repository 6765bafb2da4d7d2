"""Golden equivalence of the export pipeline: one fixed scenario per vendor, summarised canonically.

A rewrite of the pipeline (stage → diff → apply → poll → finish → commit) must change no behaviour:
the same contacts reach each vendor with the same per-contact payload bytes, the reports count the
same, the same rows are rejected. ``tests/e2e/test_equivalence.py`` runs the scenario and compares
its summary with ``tests/golden/equivalence.json``, generated from the code before the rewrite.

Scenario (per vendor, through the local harness: Azurite, the vendor simulator, the in-process host):
``seed_sample`` writes ~2,000 profiles in two segments (CSV + JSON Lines, invalid emails, duplicates
written differently) plus two addresses under ``.test`` that some vendors refuse per row; four
contacts are already unsubscribed in the vendor; a mirror export runs in full. Then the segments are
rewritten: 20 first names change, the JSON Lines segment loses its last 10 rows and gains 10 new
profiles and one more ``.test`` address; the export runs again (a refresh).

Per run the summary records
- ``report``: status, profiles read, outcome counts, added/updated/removed/would_remove, full resync;
- ``vendor_list``: the list read back through the vendor's read endpoints (``email state``);
- ``payload_items``: each contact item of every upsert request the vendor accepted for processing,
  re-serialised with ``orjson.dumps`` (key order kept) — batch envelopes and batch counts are left
  out on purpose (a rewrite may cut batches differently);
- ``removals``: the emails the vendor's removal requests acted on;
- ``rejected_rows``: the lines of the rejected-rows CSV;
each section as count (+ bytes for payload items) and the sha256 of its sorted lines. The lines
themselves go to ``tests/golden/equivalence-lines.json.gz`` so a failing comparison can say which
contacts differ.

``python -m devtools.golden --write`` regenerates both golden files; without ``--write`` it prints
the differences against them (exit status 1 when there are any).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import hashlib
import io
import json
import random
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from devtools.azurite import Azurite
from devtools.local_env import LocalEnv, local_env
from devtools.sample_data import profile, seed_sample
from shared.models import RunReport, SyncMode
from shared.pipeline.normalise import email_problem, normalise_email
from simulators.base import RecordedRequest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "equivalence.json"
GOLDEN_LINES = REPO / "tests" / "golden" / "equivalence-lines.json.gz"

VENDORS = ("brevo", "campaign_monitor", "mailchimp", "omnisend", "sendgrid")
RUNS = ("full", "refresh")
SECTIONS = ("vendor_list", "payload_items", "removals", "rejected_rows")

PROFILES = 2_000
VIP, NEWSLETTER = "segments/vip-customers", "segments/newsletter"
VIP_BLOB, NEWSLETTER_BLOB = f"{VIP}/part-00000.csv", f"{NEWSLETTER}/part-00000.jsonl"
RENAMED = 20  # first names changed by the refresh
LEFT = 10  # rows the refresh drops from the end of the JSON Lines segment
JOINED = 10  # new profiles the refresh adds
UNSUBSCRIBED = 4  # contacts already unsubscribed in the vendor before the first run

# Vendor time runs 10x faster, as in the other e2e tests: simulator windows, latency and job delays
# and the pipeline's pacer are scaled alike, so the documented limits keep their shape.
TIME_SCALE = 0.1
SETTINGS: dict[str, Any] = {
    "rows_per_partition": 1000,
    "first_poll_seconds": 0.5,
    "max_poll_seconds": 2.0,
    "vendor_time_scale": TIME_SCALE,
}
SIMULATOR_OPTIONS: dict[str, Any] = {"job_delay": 0.2, "time_scale": TIME_SCALE}

# What legitimately differs between two runs of the same scenario, and is therefore canonicalised:
# - the target id (SendGrid, Mailchimp and Campaign Monitor lists get a random id) → "<target>" where it
#   is a whole value or a whole path segment;
# - Omnisend's ``statusChangedAt`` (the adapter stamps the time the run started) → "<timestamp>";
# - run ids, job / batch / process ids and request times: never recorded (envelopes, job answers
#   and the report's ids and times are left out).
TARGET = "<target>"
TIMESTAMP = "<timestamp>"
TIMESTAMP_KEYS = frozenset({"statusChangedAt"})

# Requests answered 429 or 5xx (or cut) were not processed by the vendor and are retried: how many
# there are depends on timing, so they are left out of the payload items.
NOT_PROCESSED = frozenset({0, 429})

EMAIL = re.compile(r"[^\s\"',;]+@[^\s\"',;]+")


# ---- the contact items of each vendor's upsert requests --------------------------------------------


def _items(key: str) -> Callable[[Any], list[Any]]:
    return lambda body: list(body.get(key) or [])


def _whole(body: Any) -> list[Any]:
    return [body]


# vendor → [(method, path pattern, items of the parsed body)]; Mailchimp also updates a known member's
# merge fields with one PATCH per member (its body is the item).
UPSERT_REQUESTS: dict[str, list[tuple[str, re.Pattern[str], Callable[[Any], list[Any]]]]] = {
    "sendgrid": [("PUT", re.compile(r"^/v3/marketing/contacts$"), _items("contacts"))],
    "mailchimp": [
        ("POST", re.compile(r"^/3\.0/lists/[^/]+$"), _items("members")),
        ("PATCH", re.compile(r"^/3\.0/lists/[^/]+/members/[^/]+$"), _whole),
    ],
    "brevo": [("POST", re.compile(r"^/v3/contacts/import$"), _items("jsonBody"))],
    "omnisend": [("POST", re.compile(r"^/api/batches$"), _items("items"))],
    "campaign_monitor": [("POST", re.compile(r"^/api/v3\.3/subscribers/[^/]+/import\.json$"), _items("Subscribers"))],
}


def canonical(value: Any, target: str) -> Any:
    """``value`` with what varies between runs replaced (see the constants above); key order kept."""
    if isinstance(value, dict):
        return {k: TIMESTAMP if k in TIMESTAMP_KEYS else canonical(v, target) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v, target) for v in value]
    # Whole values only: Brevo's list id is a small number ("2") that also occurs inside phones and emails.
    return TARGET if isinstance(value, str) and value == target else value


def canonical_path(path: str, target: str) -> str:
    return "/".join(TARGET if segment == target else segment for segment in path.split("/"))


def payload_items(vendor: str, requests: Iterable[RecordedRequest], target: str) -> list[str]:
    """One line per contact item: ``METHOD path item-json``, the path and item canonicalised."""
    lines: list[str] = []
    for request in requests:
        if request.status in NOT_PROCESSED or request.status >= 500:
            continue
        for method, pattern, items_of in UPSERT_REQUESTS[vendor]:
            if request.method == method and pattern.match(request.path):
                path = canonical_path(request.path, target)
                body = orjson.loads(request.body)
                lines.extend(f"{method} {path} " + orjson.dumps(canonical(i, target)).decode() for i in items_of(body))
    return sorted(lines)


# ---- the scenario ----------------------------------------------------------------------------------


def _test_domain_rows(numbers: range) -> list[bytes]:
    """Valid addresses under ``.test``: Mailchimp, Omnisend and Campaign Monitor refuse them per row."""
    rng = random.Random(5)
    return [orjson.dumps({**profile(n, rng), "email": f"reserved{n:03d}@example.test"}) + b"\n" for n in numbers]


def _rename_first_names(csv_text: str) -> str:
    """The first ``RENAMED`` rows with a clean, valid email get a new first name."""
    rows = list(csv.reader(io.StringIO(csv_text)))
    renamed = 0
    for row in rows[1:]:
        if renamed < RENAMED and row[0] == normalise_email(row[0]) and email_problem(row[0]) is None:
            row[1] += "-renamed"
            renamed += 1
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _joined_rows() -> list[bytes]:
    rng = random.Random(99)
    return [orjson.dumps(profile(PROFILES * 10 + n, rng)) + b"\n" for n in range(JOINED)]


def _emails_of_segments(env: LocalEnv) -> set[str]:
    """Every valid, normalised email currently in the two segments (what the read-back asks about)."""
    emails: set[str] = set()
    for row in csv.DictReader(io.StringIO(env.runtime.segments.read_bytes(VIP_BLOB).decode())):
        emails.add(normalise_email(row["email"]))
    for line in env.runtime.segments.read_bytes(NEWSLETTER_BLOB).splitlines():
        emails.add(normalise_email(orjson.loads(line)["email"]))
    return {e for e in emails if email_problem(e) is None}


def _digest(lines: list[str]) -> dict[str, Any]:
    data = "".join(line + "\n" for line in lines).encode()
    return {"count": len(lines), "sha256": hashlib.sha256(data).hexdigest()}


def _report_summary(report: RunReport | None, error: str | None) -> dict[str, Any]:
    if report is None:
        return {"missing": error or "no report"}
    return {
        "status": report.status.value,
        "profiles_read": report.profiles_read,
        "outcomes": report.outcomes.model_dump(),
        "added": report.added,
        "updated": report.updated,
        "removed": report.removed,
        "removal_failed": report.removal_failed,
        "would_remove": report.would_remove,
        "full_resync": report.full_resync,
        "held_back": len(report.held_back),
    }


def summarise(report: dict[str, Any], lines: Mapping[str, list[str]]) -> dict[str, Any]:
    """A run's summary: the report's figures, then count and sha256 of each section's sorted lines (and
    the bytes of the payload items themselves, without their ``METHOD path`` prefix)."""
    summary: dict[str, Any] = {"report": report}
    for section in SECTIONS:
        summary[section] = _digest(lines[section])
    summary["payload_items"]["bytes"] = sum(len(line.split(" ", 2)[2].encode()) for line in lines["payload_items"])
    return summary


@dataclass
class VendorResult:
    """A vendor's scenario: ``summary`` (what the golden file holds) and the lines behind its digests."""

    summary: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, dict[str, list[str]]] = field(default_factory=dict)


async def _record_run(env: LocalEnv, name: str, result: VendorResult, asked: set[str]) -> None:
    env.simulator.reset_log()
    instance, report = await env.run("weekly")
    rejected_csv = b""
    if report is not None and report.rejected_rows_blob:
        rejected_csv = env.runtime.store.read_bytes_or_none(report.rejected_rows_blob) or b""
    listed = env.read_back(asked)
    with env.simulator.lock:
        requests = list(env.simulator.requests)
    lines = {
        "vendor_list": sorted(f"{email} {state}" for email, state in listed.items()),
        "payload_items": payload_items(env.vendor, requests, env.target_id),
        "removals": sorted(env.simulator.removed_emails()),
        "rejected_rows": sorted(rejected_csv.decode().splitlines()[1:]),  # without the header
    }
    result.summary[name] = summarise(_report_summary(report, instance.error), lines)
    result.lines[name] = lines


async def run_scenario(vendor: str, connection_string: str) -> VendorResult:
    """The fixed scenario for ``vendor`` against the given Azurite; its canonical summary."""
    result = VendorResult()
    with local_env(vendor, connection_string, simulator_options=SIMULATOR_OPTIONS, settings=SETTINGS) as env:
        env.add_connection()
        segments = env.runtime.segments
        sample = seed_sample(segments, PROFILES, segments=(VIP, NEWSLETTER))
        seeded = segments.read_bytes(NEWSLETTER_BLOB).splitlines(keepends=True)
        segments.write_bytes(NEWSLETTER_BLOB, b"".join(seeded + _test_domain_rows(range(2))))
        for email in sorted(sample.expected)[:UNSUBSCRIBED]:
            env.simulator.suppress(email, env.target_id, {"first_name": "Before"})
        env.add_export(segments=[VIP, NEWSLETTER], sync_mode=SyncMode.MIRROR)
        first_emails = _emails_of_segments(env)
        await _record_run(env, "full", result, first_emails)

        segments.write_bytes(VIP_BLOB, _rename_first_names(segments.read_bytes(VIP_BLOB).decode()).encode())
        refreshed = seeded[:-LEFT] + _test_domain_rows(range(3)) + _joined_rows()
        segments.write_bytes(NEWSLETTER_BLOB, b"".join(refreshed))
        # Asked about the earlier emails too, so the read-back shows the ones removed.
        await _record_run(env, "refresh", result, first_emails | _emails_of_segments(env))
    return result


# ---- golden files and comparison -------------------------------------------------------------------


def load_golden() -> tuple[dict[str, Any], dict[str, Any]]:
    summary = orjson.loads(GOLDEN.read_bytes()) if GOLDEN.exists() else {}
    lines = orjson.loads(gzip.decompress(GOLDEN_LINES.read_bytes())) if GOLDEN_LINES.exists() else {}
    return summary, lines


def write_golden(results: Mapping[str, VendorResult]) -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    summary = {v: results[v].summary for v in sorted(results)}
    GOLDEN.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    lines = {v: results[v].lines for v in sorted(results)}
    # mtime=0: the same lines give the same bytes, so regenerating leaves git with nothing to commit.
    GOLDEN_LINES.write_bytes(gzip.compress(orjson.dumps(lines, option=orjson.OPT_SORT_KEYS), mtime=0))


def _by_email(lines: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for line in lines:
        found = EMAIL.search(line)
        grouped.setdefault(found.group(0).lower() if found else line, []).append(line)
    return grouped


def _explain_lines(section: str, expected: list[str], actual: list[str], examples: int) -> list[str]:
    before, after = _by_email(expected), _by_email(actual)
    missing = sorted(set(before) - set(after))
    extra = sorted(set(after) - set(before))
    changed = sorted(e for e in set(before) & set(after) if sorted(before[e]) != sorted(after[e]))
    out = [f"    {section}: {len(missing)} contacts missing, {len(extra)} extra, {len(changed)} changed"]
    for email in missing[:examples]:
        out += [f"      - {line}" for line in before[email]]
    for email in extra[:examples]:
        out += [f"      + {line}" for line in after[email]]
    for email in changed[:examples]:
        out += [f"      - {line}" for line in sorted(before[email])] + [
            f"      + {line}" for line in sorted(after[email])
        ]
    return out


def _brief(digest: Any) -> str:
    return json.dumps(digest, sort_keys=True) if digest is not None else "none"


def differences(
    vendor: str, golden: Mapping[str, Any], golden_lines: Mapping[str, Any], result: VendorResult, examples: int = 3
) -> list[str]:
    """Readable differences between the golden summary of ``vendor`` and ``result`` (empty: equal)."""
    expected_runs = golden.get(vendor)
    if expected_runs is None:
        return [f"{vendor}: no golden summary (run `python -m devtools.golden --write`)"]
    out: list[str] = []
    for run in RUNS:
        expected, actual = expected_runs.get(run, {}), result.summary.get(run, {})
        if expected == actual:
            continue
        out.append(f"{vendor} / {run} run:")
        report_before, report_after = expected.get("report", {}), actual.get("report", {})
        for key in sorted(set(report_before) | set(report_after)):
            if report_before.get(key) != report_after.get(key):
                out.append(f"    report.{key}: golden {report_before.get(key)!r}, now {report_after.get(key)!r}")
        for section in SECTIONS:
            if expected.get(section) == actual.get(section):
                continue
            out.append(f"    {section}: golden {_brief(expected.get(section))}, now {_brief(actual.get(section))}")
            before_lines = golden_lines.get(vendor, {}).get(run, {}).get(section)
            if before_lines is not None:
                out += _explain_lines(section, before_lines, result.lines[run][section], examples)
    return out


async def run_all(vendors: Iterable[str], connection_string: str) -> dict[str, VendorResult]:
    return {vendor: await run_scenario(vendor, connection_string) for vendor in vendors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.golden", description="Golden equivalence of the export pipeline."
    )
    parser.add_argument("--write", action="store_true", help=f"rewrite {GOLDEN.relative_to(REPO)} and its lines")
    parser.add_argument("--vendor", action="append", choices=VENDORS, help="only this vendor (repeatable)")
    args = parser.parse_args(argv)
    vendors = args.vendor or list(VENDORS)
    with Azurite() as azurite:
        results = asyncio.run(run_all(vendors, azurite.connection_string))
    if args.write:
        if args.vendor:  # keep the other vendors' golden data
            golden, golden_lines = load_golden()
            for vendor, entry in golden.items():
                if vendor not in results:
                    results[vendor] = VendorResult(entry, golden_lines.get(vendor, {}))
        write_golden(results)
        print(f"wrote {GOLDEN.relative_to(REPO)} and {GOLDEN_LINES.relative_to(REPO)} ({', '.join(sorted(results))})")
        return 0
    golden, golden_lines = load_golden()
    found = [line for vendor in vendors for line in differences(vendor, golden, golden_lines, results[vendor])]
    print("\n".join(found) if found else f"no differences ({', '.join(vendors)})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
