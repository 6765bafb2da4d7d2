"""Client-side throughput and memory, in a process of its own (so its peak RSS is the worker's alone).

read blob → map → validate → dedupe → partition → serialise vendor payloads, with the vendor answering
instantly (nothing is sent: the payloads are built exactly as the adapter builds them and dropped).
Run on one core: every step runs sequentially in this process; Azurite (another process) serves blobs.

    python -m bench.client --connection-string ... --container ... --segments ... --root ...

The same command measures a refresh: given the plan of a run whose export already has a committed
snapshot, diff finds the changed 1% and only those are serialised. With ``--kernels`` it measures the same
work with storage taken out (``bench.kernels``).

Prints one JSON line: profiles, seconds, profiles_per_second, peak_rss_mb, cpu_seconds (this process:
user + system), profiles_per_cpu_second, contacts serialised, and seconds per step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from pydantic import SecretStr

from destinations.base import ContactBatch, Credential, Target
from destinations.sendgrid import SendGridDestination
from destinations.sendgrid.adapter import _too_long as too_long
from shared.pipeline.cut import BatchCut, Sizes, change_sizes, cut_changes, split_units
from shared.pipeline.diff import diff_partition, read_diff
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.stage import stage_part
from shared.pipeline.unit_rows import UnitInput
from shared.runtime import Runtime
from shared.settings import load_settings
from shared.storage import BlobStore


def _rss_mb() -> float:
    """Peak RSS of this process's own memory. Not ``ru_maxrss``: Linux carries that high-water mark
    across ``exec`` from the parent that forked this process (the benchmark, which has just run a whole
    export in memory), so it would report the parent's peak, not the client's."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _cpu_seconds() -> float:
    """This process and its finished children (the stage/diff processes, once the pool is shut down)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def _runtime(connection_string: str, container: str, segments: str) -> Runtime:
    settings = load_settings(
        storage_connection_string=connection_string, container=container, segments_container=segments
    )
    return Runtime(
        settings=settings,
        store=BlobStore.connect(settings, container),
        segments=BlobStore.connect(settings, segments),
        secrets=None,  # type: ignore[arg-type]  # nothing here reads a secret
    )


_POOL_RUNTIME: Runtime | None = None


def _start_process(connection_string: str, container: str, segments: str) -> None:
    global _POOL_RUNTIME
    _POOL_RUNTIME = _runtime(connection_string, container, segments)


def _stage(root: str, index: int) -> int:
    assert _POOL_RUNTIME is not None  # nosec B101
    return stage_part(_POOL_RUNTIME, root, index).read


def _diff(root: str, partition: int) -> None:
    assert _POOL_RUNTIME is not None  # nosec B101
    diff_partition(_POOL_RUNTIME, root, partition)


def measure(connection_string: str, container: str, segments: str, root: str, processes: int = 1) -> dict[str, float]:
    """One core (``processes`` 1: everything in this process) or stage and diff fanned out over
    ``processes`` worker processes, as the Functions host spreads activities over worker processes;
    serialising stays in this process either way."""
    runtime = _runtime(connection_string, container, segments)
    plan = load_plan(runtime, root)
    cpu = _cpu_seconds()
    started = time.perf_counter()
    if processes > 1:
        context = multiprocessing.get_context("spawn")
        args = (connection_string, container, segments)
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_process, initargs=args) as pool:
            list(pool.map(_start_noop, range(processes)))  # processes started before the clock runs
            started = time.perf_counter()
            read = sum(pool.map(_stage, [root] * len(plan.parts), range(len(plan.parts))))
            staged = time.perf_counter()
            list(pool.map(_diff, [root] * plan.partitions, range(plan.partitions)))
            diffed = time.perf_counter()
    else:
        read = sum(stage_part(runtime, root, i).read for i in range(len(plan.parts)))
        staged = time.perf_counter()
        for k in range(plan.partitions):
            diff_partition(runtime, root, k)
        diffed = time.perf_counter()
    # The payloads, built by a real adapter exactly as cut and apply build them (the vendor "answers
    # instantly"): every change read and measured as cut measures it (``cut_changes``: size bounds, and
    # encoding only when a bound could reach the body limit) to cut the batches across partitions, then
    # each apply unit's rows read and encoded a chunk at a time (``UnitInput``, as apply reads them), each
    # batch made into a batch of contacts, checked as the adapter checks them before sending, and joined.
    adapter = bench_adapter(plan)
    attributes = plan.export.attributes()

    def sizes(exact: bool) -> list[tuple[np.ndarray, bool]]:
        return [
            change_sizes(adapter, read_diff(runtime.store, plan, k, "changes"), attributes, exact=exact)
            for k in range(plan.partitions)
        ]

    cut = changes_cut(sizes, plan)
    sent, payload_bytes = serialise(adapter, cut, lambda todo: UnitInput(runtime, plan, cut, adapter, "changes", todo))
    steps = (started, staged, diffed, time.perf_counter())
    return {
        **figures(read, steps, _cpu_seconds() - cpu, sent, cut.batches("changes"), payload_bytes),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def figures(
    read: int, steps: tuple[float, float, float, float], cpu: float, sent: int, batches: int, payload_bytes: int
) -> dict[str, float]:
    """The printed figures of a measurement: ``steps`` are the clock when it started and when stage,
    diff and serialising ended."""
    started, staged, diffed, finished = steps
    seconds = finished - started
    return {
        "profiles": read,
        "seconds": round(seconds, 3),
        "profiles_per_second": round(read / seconds),
        # Per CPU second of this process: what the same work reaches when no other process competes for
        # the core (the wall-clock figure above also holds every wait for Azurite and for the scheduler).
        "profiles_per_cpu_second": round(read / cpu) if cpu > 0 else 0,
        "stage_seconds": round(staged - started, 3),
        "diff_seconds": round(diffed - staged, 3),
        "serialise_seconds": round(finished - diffed, 3),
        "contacts": sent,
        "batches": batches,
        "payload_mb": round(payload_bytes / 1e6, 1),
        "cpu_seconds": round(cpu, 3),
    }


def bench_adapter(plan: Plan) -> SendGridDestination:
    """The SendGrid adapter the client side serialises with: it never sends, and knows the field ids
    ``prepare()`` would have learnt (none: the demo's mapping has no custom field)."""
    adapter = SendGridDestination(
        client=None,  # type: ignore[arg-type]  # never sends
        credential=Credential(secret=SecretStr("unused")),
        target=Target(list_id="bench", mapped_attributes=tuple(plan.export.attributes())),
    )
    adapter._field_ids = {}
    return adapter


def changes_cut(sizes: Callable[[bool], list[Sizes]], plan: Plan) -> BatchCut:
    """The changes cut into SendGrid's batches across partitions, as ``cut_batches`` cuts them."""
    counts, bounds = cut_changes(sizes, SendGridDestination.limits)
    return BatchCut(
        offsets={"changes": [0, *np.cumsum(counts).tolist()], "removals": [0] * (plan.partitions + 1)},
        bounds={"changes": bounds, "removals": [0]},
        units=split_units({"changes": bounds, "removals": [0]}, plan.width),
    )


def serialise(
    adapter: SendGridDestination, cut: BatchCut, unit_input: Callable[[list[int]], UnitInput]
) -> tuple[int, int]:
    """(contacts sent, payload bytes) of every apply unit's batches: each unit's rows read and encoded a
    chunk at a time by its ``UnitInput`` (as apply does), each batch checked and joined (``request_body``)."""
    sent = payload_bytes = 0
    for unit in cut.units:
        rows = unit_input(list(range(unit.first, unit.end)))
        for index in range(unit.first, unit.end):
            count, size = request_body(adapter, *rows.batch(index))
            sent += count
            payload_bytes += size
    return sent, payload_bytes


def request_body(adapter: SendGridDestination, batch: ContactBatch, bodies: list[bytes]) -> tuple[int, int]:
    """(contacts sent, body bytes) of one batch: checked as the adapter checks it before sending (values
    over SendGrid's field lengths), then joined into the request body, which is dropped."""
    refused = too_long(batch)
    kept = [body for i, body in enumerate(bodies) if i not in refused] if refused else bodies
    return len(kept), len(adapter._envelope_head + b",".join(kept) + b"]}")


def _start_noop(_: int) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connection-string", required=True)
    parser.add_argument("--container", required=True)
    parser.add_argument("--segments", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--processes", type=int, default=1, help="stage and diff across this many processes")
    parser.add_argument("--kernels", action="store_true", help="the same work with storage taken out (bench.kernels)")
    args = parser.parse_args()
    asyncio.set_event_loop(asyncio.new_event_loop())
    if args.kernels:
        from bench.kernels import main_kernels  # it imports this module's helpers

        figures = main_kernels(args.connection_string, args.container, args.segments, args.root)
    else:
        figures = measure(args.connection_string, args.container, args.segments, args.root, args.processes)
    print(json.dumps({**figures, "processes": args.processes}))


if __name__ == "__main__":
    main()
