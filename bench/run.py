"""The benchmark: full exports per vendor against the floor their documented limits impose, client-side
throughput on one core, worker memory at two sizes, and an incremental 1% refresh.

    python -m bench.run --profiles 1000000            # make bench
    python -m bench.run --profiles 20000 --smoke      # make bench-smoke (run by make test)

Vendor time is scaled (``--time-scale``, default 0.01 = 100× faster): the simulators apply every
window, latency and job delay × scale, the pipeline's pacer uses the same factor, and the floor is
computed from the same limits × scale — so the ratio measured/floor is what it would be unscaled.
Results go to ``bench/results/latest.json`` and ``latest.md`` (plus ``latest.png`` when matplotlib is
installed); nothing is asserted here — the figures are for people to read.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from destinations import destination_class, vendors
from destinations.base import Contact, Credential, Target, VendorLimits
from devtools.azurite import Azurite
from devtools.local_env import DEFAULT_MAPPING, LocalEnv, local_env
from shared.models import RunRequest
from shared.pipeline.plan import make_plan

RESULTS = Path(__file__).resolve().parent / "results"
SEGMENT = "segments/bench"
# Per-request latency each vendor adds (seconds, before scaling): a realistic figure for a batch call.
LATENCY = {"sendgrid": 0.8, "mailchimp": 2.0, "brevo": 0.5, "omnisend": 0.3, "campaign_monitor": 1.0}
# Asynchronous processing per job (seconds, before scaling): undocumented by every vendor, so modest.
JOB_DELAY = {"sendgrid": 5.0, "brevo": 5.0, "omnisend": 2.0}
# What the export documentation this product replaces states for 1M profiles (SendGrid: 100k).
DOCUMENTED = {
    "brevo": "90 min",
    "mailchimp": "3 h",
    "omnisend": "4 h",
    "campaign_monitor": "20 min",
    "sendgrid": "a few hours (100k)",
}
# The pipeline's own concurrency when a vendor documents none: width × batches in flight.
UNBOUNDED = 16 * 4


def write_segment(env: LocalEnv, profiles: int, *, parts: int, refresh: int = 0) -> None:
    """Deterministic profiles as CSV parts. Each refresh changes the first name of another 1%: refresh 1
    every 100th profile, refresh 2 also the ones halfway between."""
    per_part = math.ceil(profiles / parts)
    for p in range(parts):
        writer = env.runtime.segments.block_writer(f"{SEGMENT}/part-{p:05d}.csv", threshold=8 * 1024 * 1024)
        writer.write(b"email,first_name,last_name,phone,city,country\n")
        start, end = p * per_part, min(profiles, (p + 1) * per_part)
        chunk: list[str] = []
        for i in range(start, end):
            name = "Grace" if refresh >= 1 and i % 100 == 0 else "Hedy" if refresh >= 2 and i % 100 == 50 else "Ada"
            chunk.append(f"customer{i:08d}@example.com,{name},Lovelace,+3519{i:08d},Lisbon,Portugal\n")
            if len(chunk) == 50_000:
                writer.write("".join(chunk).encode())
                chunk.clear()
        writer.write("".join(chunk).encode())
        writer.close()


def average_contact_bytes(vendor: str) -> int:
    cls = destination_class(vendor)
    attributes = tuple(a for a in DEFAULT_MAPPING[vendor] if a != "email")
    adapter: Any = cls(client=None, credential=Credential(secret=_secret()), target=Target("1", attributes))  # type: ignore[arg-type]
    if hasattr(adapter, "_field_ids"):
        adapter._field_ids = {}
    values = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+351900000000",
        "city": "Lisbon",
        "country": "Portugal",
    }
    contact = Contact("customer00000000@example.com", {a: values.get(a, "x") for a in attributes})
    return len(adapter.encode_contact(contact))


def _secret() -> Any:
    from pydantic import SecretStr

    return SecretStr("bench")


@dataclass
class Floor:
    seconds: float  # unscaled
    requests: int
    why: str


def floor_for(vendor: str, profiles: int, counts: dict[str, int]) -> Floor:
    """The least time the documented limits allow for the requests this export needs (unscaled).

    ``counts`` are successful requests per rate bucket as the simulator saw them; upsert requests are
    the batches (profiles / batch size, by items and bytes), which the pipeline cannot do with fewer.
    """
    limits: VendorLimits = destination_class(vendor).limits
    per_batch = limits.upsert_batch_items
    if limits.upsert_batch_bytes:
        per_batch = min(
            per_batch, (limits.upsert_batch_bytes - limits.envelope_bytes) // (average_contact_bytes(vendor) + 1)
        )
    batches = math.ceil(profiles / per_batch)
    latency = LATENCY[vendor]
    candidates = [(latency, "one request's latency")]
    for bucket, rate_limits in limits.rate_limits.items():
        n = counts.get(bucket, 0)
        for limit in rate_limits:
            if n > limit.requests:
                candidates.append(
                    (
                        (n - limit.requests) * limit.per_seconds / limit.requests + latency,
                        f"{n} {bucket} requests at {limit.requests}/{limit.per_seconds:g}s",
                    )
                )
    concurrency = limits.max_concurrency or UNBOUNDED
    total = sum(counts.values())
    candidates.append(
        (math.ceil(total / concurrency) * latency, f"{total} requests, {concurrency} at a time, {latency:g}s each")
    )
    seconds, why = max(candidates)
    if limits.asynchronous:
        seconds += JOB_DELAY.get(vendor, 0.0)
        why += f" + {JOB_DELAY.get(vendor, 0.0):g}s processing of the last job"
    return Floor(seconds, batches, why)


async def export_once(env: LocalEnv, **request: Any) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    instance, report = await env.run("bench", **request)
    elapsed = time.perf_counter() - started
    if report is None:
        raise RuntimeError(f"the run produced no report: {instance.error or instance.output}")
    return elapsed, report.model_dump(mode="json")


def run_vendor(vendor: str, connection_string: str, profiles: int, scale: float, parts: int) -> dict[str, Any]:
    options = {
        "latency": LATENCY[vendor],
        "time_scale": scale,
        "job_delay": JOB_DELAY.get(vendor, 0.0),
        "record_bodies": False,
    }
    # No clock-skew margin for the suppression read-back: simulator and worker share one clock, and
    # refreshes a day apart are seconds apart here, so a 10-minute margin would reach back over every
    # earlier run and count their contacts as this refresh's cost.
    settings = {
        "vendor_time_scale": scale,
        "first_poll_seconds": 1.0,
        "max_poll_seconds": 5.0,
        "suppression_lookback_seconds": 0.0,
    }
    # The simulator runs in a process of its own, as a vendor does: its JSON parsing is not our overhead.
    with local_env(
        vendor, connection_string, simulator_options=options, settings=settings, simulator_process=True
    ) as env:
        for name in DEFAULT_MAPPING[vendor]:
            if name not in (
                "email",
                "first_name",
                "last_name",
                "phone",
                "city",
                "country",
                "address",
                "state",
                "postal_code",
            ):
                env.simulator.create_field(name)
        env.add_connection()
        env.add_export("bench", segments=[SEGMENT])
        write_segment(env, profiles, parts=parts)
        longest: dict[str, Any] = {"name": "", "seconds": 0.0}

        def track(kind: str, payload: dict[str, Any]) -> None:
            if kind == "completed" and payload.get("seconds", 0.0) > longest["seconds"]:
                longest.update(name=payload["name"], seconds=payload["seconds"])

        env.host.on_event = track
        full_seconds, full = asyncio.run(export_once(env))
        counts = env.simulator.successful_requests_per_bucket()
        floor = floor_for(vendor, profiles, counts)
        members = env.simulator.member_count(env.target_id)
        env.simulator.reset_log()
        write_segment(env, profiles, parts=parts, refresh=1)
        incremental_seconds, incremental = asyncio.run(export_once(env))
        incremental_floor = floor_for(
            vendor, incremental["outcomes"]["upserted"], env.simulator.successful_requests_per_bucket()
        )
        # The first refresh after a full export may read back what that export touched (Brevo's
        # modifiedSince); the second shows what every later refresh costs.
        env.simulator.reset_log()
        write_segment(env, profiles, parts=parts, refresh=2)
        steady_seconds, steady = asyncio.run(export_once(env))
        steady_floor = floor_for(vendor, steady["outcomes"]["upserted"], env.simulator.successful_requests_per_bucket())
    # Real-world projection: the time beyond the vendor floor is our own work (CPU, storage), which the
    # time scale does not shrink; the floor itself is what the vendor would take at its real limits.
    overhead = max(0.0, full_seconds - floor.seconds * scale)
    projected_full = overhead + floor.seconds
    incremental_overhead = max(0.0, incremental_seconds - incremental_floor.seconds * scale)
    projected_incremental = incremental_overhead + incremental_floor.seconds
    projected_steady = max(0.0, steady_seconds - steady_floor.seconds * scale) + steady_floor.seconds
    return {
        "vendor": vendor,
        "profiles": profiles,
        "time_scale": scale,
        "full_seconds": round(full_seconds, 2),
        "floor_seconds": round(floor.seconds * scale, 2),
        "ratio": round(full_seconds / (floor.seconds * scale), 2),
        "floor_why": floor.why,
        "overhead_seconds": round(overhead, 2),
        "projected_real_minutes": round(projected_full / 60, 1),
        "floor_real_minutes": round(floor.seconds / 60, 1),
        "documented": DOCUMENTED[vendor],
        "requests": counts,
        "members": members,
        "upserted": full["outcomes"]["upserted"],
        "incremental_seconds": round(incremental_seconds, 2),
        "incremental_share": round(incremental_seconds / full_seconds, 3),
        "projected_incremental_share": round(projected_incremental / projected_full, 3),
        "incremental_upserted": incremental["outcomes"]["upserted"],
        "steady_seconds": round(steady_seconds, 2),
        "steady_share": round(steady_seconds / full_seconds, 3),
        "projected_steady_share": round(projected_steady / projected_full, 3),
        "steady_upserted": steady["outcomes"]["upserted"],
        # No activity may outlast the budget (issue 11): the longest one, measured at this time scale and
        # projected to real vendor time (measured / scale: an upper bound, our CPU time does not scale).
        "longest_activity": longest["name"],
        "longest_activity_seconds": round(float(longest["seconds"]), 2),
        "longest_activity_projected_real_seconds": round(float(longest["seconds"]) / scale, 1),
    }


def client_side(connection_string: str, profiles: int, parts: int) -> dict[str, Any]:
    with local_env("sendgrid", connection_string) as env:
        env.add_connection()
        env.add_export("bench", segments=[SEGMENT])
        write_segment(env, profiles, parts=parts)
        plan = make_plan(
            env.runtime,
            RunRequest(export_id="bench"),
            run_id="client-side",
            instance_id="bench",
            started_at=datetime.now(UTC),
        )
        settings = env.runtime.settings
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.client",
                "--connection-string",
                connection_string,
                "--container",
                settings.container,
                "--segments",
                settings.segments_container,
                "--root",
                plan.root,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Benchmark of {results['date']} on {results['machine']}; vendor time × {results['time_scale']}.", ""]
    lines += [
        "| vendor | profiles | measured (scaled) | floor (scaled) | ratio | our overhead | projected real time | "
        "floor real | documented by the replaced export | 1% refresh / full, first after the full export "
        "(measured; projected real) | 1% refresh / full, later refreshes (measured; projected real) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in results["vendors"]:
        lines.append(
            f"| {v['vendor']} | {v['profiles']:,} | {v['full_seconds']} s | {v['floor_seconds']} s | {v['ratio']} | "
            f"{v['overhead_seconds']} s | {v['projected_real_minutes']:.1f} min | {v['floor_real_minutes']:.1f} min | "
            f"{v['documented']} | {v['incremental_share']:.1%}; {v['projected_incremental_share']:.1%} | "
            + (f"{v['steady_share']:.1%}; {v['projected_steady_share']:.1%} |" if "steady_share" in v else "– |")
        )
    lines += [
        "",
        "| client side | profiles | profiles/s (one core) | peak RSS | stage / diff / serialise s |",
        "|---|---|---|---|---|",
    ]
    for c in results["client"]:
        lines.append(
            f"| | {c['profiles']:,} | {c['profiles_per_second']:,} | {c['peak_rss_mb']} MB | "
            f"{c['stage_seconds']} / {c['diff_seconds']} / {c['serialise_seconds']} |"
        )
    if len(results["client"]) == 2:
        small, big = results["client"]
        lines.append(
            f"\nPeak RSS grows {big['peak_rss_mb'] / small['peak_rss_mb']:.2f}× from "
            f"{small['profiles']:,} to {big['profiles']:,} profiles."
        )
    lines.append("\nFloor reasons: " + "; ".join(f"{v['vendor']}: {v['floor_why']}" for v in results["vendors"]))
    return "\n".join(lines) + "\n"


README = RESULTS.parent.parent / "README.md"
TABLE_START, TABLE_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(table: str, readme: Path = README) -> bool:
    """Put the latest table between the README's markers, so the README always shows the latest run."""
    text = readme.read_text() if readme.exists() else ""
    if TABLE_START not in text or TABLE_END not in text:
        return False
    head, rest = text.split(TABLE_START, 1)
    tail = rest.split(TABLE_END, 1)[1]
    readme.write_text(f"{head}{TABLE_START}\n{table}{TABLE_END}{tail}")
    return True


def chart(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [v["vendor"] for v in results["vendors"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [v["floor_seconds"] for v in results["vendors"]], 0.4, label="floor")
    ax.bar([x + 0.2 for x in xs], [v["full_seconds"] for v in results["vendors"]], 0.4, label="measured")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel(f"seconds (vendor time × {results['time_scale']})")
    ax.set_title(f"Full export of {results['vendors'][0]['profiles']:,} profiles per vendor")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--vendors", default=",".join(vendors()))
    parser.add_argument("--smoke", action="store_true", help="small and quick: proves the benchmark still runs")
    parser.add_argument("--chart-only", action="store_true", help="redraw latest.png and latest.md from latest.json")
    args = parser.parse_args()
    if args.chart_only:
        saved = json.loads((RESULTS / "latest.json").read_text())
        (RESULTS / "latest.md").write_text(markdown(saved))
        chart(saved, RESULTS / "latest.png")
        update_readme(markdown(saved))
        return
    parts = max(1, min(16, args.profiles // 62_500))
    chosen = [v for v in args.vendors.split(",") if v]
    missing = [v for v in chosen if importlib.util.find_spec(f"destinations.{v}") is None]
    if missing:
        print(f"not benchmarked (adapter not in this build): {', '.join(missing)}", flush=True)
        chosen = [v for v in chosen if v not in missing]
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{__import__('os').cpu_count()} cores, Python {sys.version.split()[0]}",
        "time_scale": args.time_scale,
        "vendors": [],
        "client": [],
    }
    with Azurite() as azurite:
        sizes = [args.profiles] if args.smoke else sorted({min(100_000, args.profiles), args.profiles})
        for size in sizes:
            results["client"].append(client_side(azurite.connection_string, size, max(1, min(16, size // 62_500))))
            print("client side:", results["client"][-1], flush=True)
        for vendor in chosen:
            results["vendors"].append(
                run_vendor(vendor, azurite.connection_string, args.profiles, args.time_scale, parts)
            )
            print(vendor, results["vendors"][-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    stem = "smoke" if args.smoke else "latest"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (RESULTS / f"{stem}.md").write_text(markdown(results))
    if not args.smoke:
        chart(results, RESULTS / f"{stem}.png")
        update_readme(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
