"""Command line: ``python -m devtools.cli demo`` runs an export end to end on this machine.

The demo starts Azurite and a vendor simulator, seeds a sample segment, lets the *timer path* start
the orchestration (as the schedule would after a refresh), shows progress, prints the run report,
checks the vendor's list against what a correct export must deliver, and stops what it started.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from destinations import destination_class, vendors
from devtools.api_cli import connections, exports, runs
from devtools.azurite import Azurite
from devtools.local_env import LocalEnv, local_env
from devtools.sample_data import seed_sample
from devtools.worker_pool import processes_from_env
from shared.models import RunReport
from shared.orchestration.names import (
    APPLY_BATCHES,
    CUT_BATCHES,
    DIFF_PARTITION,
    FINISH_PARTITION,
    POLL_JOBS,
    STAGE_PART,
    instance_id_for,
)
from shared.scheduler import start_scheduled_runs

app = typer.Typer(add_completion=False, help="Segment export developer tools")
# The admin API's commands (they call the API at EXPORT_API_URL with EXPORT_API_TOKEN; see docs/API.md).
app.add_typer(connections, name="connections")
app.add_typer(exports, name="exports")
app.add_typer(runs, name="runs")
console = Console()

STEPS = [
    (STAGE_PART, "stage  read → validate → partition"),
    (DIFF_PARTITION, "diff   dedupe → compare with snapshot"),
    (CUT_BATCHES, "cut    changes → vendor batches"),
    (APPLY_BATCHES, "apply  send batches to the vendor"),
    (POLL_JOBS, "await  vendor jobs (durable timers)"),
    (FINISH_PARTITION, "finish outcomes → snapshot"),
]


def report_table(report: RunReport) -> Table:
    table = Table(title=f"Run {report.run_id} — {report.status.value}", show_header=True, header_style="bold")
    table.add_column("outcome")
    table.add_column("profiles", justify="right")
    for name, value in report.outcomes.model_dump().items():
        table.add_row(name, f"{value:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{report.outcomes.total():,}[/bold]")
    table.add_row("profiles read", f"{report.profiles_read:,}")
    table.add_section()
    table.add_row("added", f"{report.added:,}")
    table.add_row("updated", f"{report.updated:,}")
    table.add_row("removed", f"{report.removed:,}")
    return table


async def _demo(env: LocalEnv, profiles: int) -> int:
    sample = seed_sample(env.runtime.segments, profiles)
    console.print(
        f"Seeded {sample.rows:,} rows in two segments (CSV + JSON Lines): "
        f"{sample.invalid:,} invalid emails, {sample.duplicate:,} duplicates, {len(sample.expected):,} distinct valid."
    )
    already = sorted(sample.expected)[:3]
    for email in already:
        env.simulator.suppress(email, env.target_id)  # people who unsubscribed in the vendor earlier
    env.add_connection()
    env.add_export()
    counts: dict[str, list[int]] = {name: [0, 0] for name, _ in STEPS}

    def on_event(kind: str, payload: dict[str, Any]) -> None:
        name = payload.get("name")
        if name in counts:
            counts[name][0 if kind == "scheduled" else 1] += 1

    env.host.on_event = on_event
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        tasks = {name: progress.add_task(label, total=None) for name, label in STEPS}
        launched = await start_scheduled_runs(env.host, env.configs)
        console.print(f"Timer fired: started {', '.join(launched)}")
        waiter = asyncio.create_task(env.host.wait(instance_id_for("weekly")))
        while not waiter.done():
            for name, task in tasks.items():
                scheduled, completed = counts[name]
                progress.update(task, total=max(scheduled, 1), completed=completed)
            await asyncio.sleep(0.1)
        for name, task in tasks.items():
            scheduled, completed = counts[name]
            progress.update(task, total=max(scheduled, 1), completed=completed)
        instance = waiter.result()
    elapsed = time.monotonic() - started
    report = env.report_of(instance)
    if report is None:
        console.print(f"[red]The run did not produce a report: {instance.output or instance.error}[/red]")
        return 1
    console.print(report_table(report))
    for error in report.errors:
        console.print(f"[yellow]• {error}[/yellow]")
    members = env.simulator.members(env.target_id)
    expected = set(sample.expected) - set(already)
    ok = set(members) == expected and report.outcomes.total() == report.profiles_read
    display = destination_class(env.vendor).display_name
    console.print(
        Panel.fit(
            f"{report.profiles_read:,} profiles read in {elapsed:.1f}s ({report.profiles_read / elapsed:,.0f}/s) "
            f"through {len(instance.history)} orchestration history events.\n"
            f"{display} simulator list now holds {len(members):,} active members; "
            f"{len(expected):,} valid, de-duplicated, subscribable profiles were expected "
            f"({len(already)} unsubscribed contacts stayed unsubscribed).\n"
            f"Rejected rows with reasons: {report.rejected_rows_blob}",
            title="[green]demo passed[/green]" if ok else "[red]demo check failed[/red]",
        )
    )
    return 0 if ok else 1


@app.callback()
def main() -> None:
    """Segment export developer tools."""


@app.command()
def demo(
    vendor: str = typer.Option("sendgrid", help=f"one of: {', '.join(vendors())}"),
    profiles: int = typer.Option(50_000, min=100, help="rows to seed across the two segments"),
) -> None:
    """Seed a sample, run an export end to end through the timer path, print the report."""
    if vendor not in vendors():
        raise typer.BadParameter(f"unknown vendor {vendor!r}; choose one of {', '.join(vendors())}")
    console.print(
        "[bold yellow]Local demo:[/bold yellow] Azurite for storage, a loopback "
        f"{destination_class(vendor).display_name} simulator, and an in-memory [bold]Key Vault stand-in[/bold] "
        "(a local development secret store — not a vault; credentials in Azure live in Key Vault)."
    )
    # As FUNCTIONS_WORKER_PROCESS_COUNT in Azure: the CPU-bound activities use one worker process per
    # core unless LOCAL_WORKER_PROCESSES says otherwise (1: everything in this process).
    processes = processes_from_env(default=None)
    with Azurite() as azurite:
        console.print(f"Azurite listening on 127.0.0.1:{azurite.port}")
        with local_env(
            vendor,
            azurite.connection_string,
            simulator_options={"latency": 0.02, "job_delay": 0.5},
            settings={"first_poll_seconds": 0.5, "max_poll_seconds": 2.0},
            worker_processes=processes,
        ) as env:
            code = asyncio.run(_demo(env, profiles))
    console.print("Stopped the simulator and Azurite.")
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
