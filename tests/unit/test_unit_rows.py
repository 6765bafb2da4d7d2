"""``UnitInput``: an apply activity reads and encodes its unit a chunk of batches at a time and hands each
batch exactly the rows and bodies that reading the whole unit at once gave (no storage: the diff files
are stand-in tables)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from pydantic import SecretStr

from destinations.base import Credential, Target
from destinations.sendgrid import SendGridDestination
from shared.pipeline import records, unit_rows
from shared.pipeline.cut import BatchCut, cut_bounds, split_units
from shared.pipeline.encode import contacts, encode_changes
from shared.pipeline.unit_rows import UnitInput

ATTRIBUTES = ["first_name", "city"]
SIZES = [7_000, 0, 5_000, 3_100]  # rows per partition


def _partition(k: int, rows: int) -> pa.Table:
    emails = [f"p{k}-{i}@x.co" for i in range(rows)]
    columns: dict[str, Any] = {
        records.EMAIL: emails,
        records.KEY: pa.array([k] * rows, pa.uint32()),
        records.HASH: pa.array([i for i in range(rows)], pa.uint64()),
        records.OLD_HASH: pa.array([None] * rows, pa.uint64()),
        records.VENDOR_ID: [""] * rows,
        records.PART: pa.array([0] * rows, pa.int32()),
        records.LINE: pa.array(list(range(rows)), pa.int64()),
        records.attribute_column("first_name"): [random.choice(["Ann", "", 'Zo"e']) for _ in range(rows)],
        records.attribute_column("city"): [random.choice(["Porto", "Lyon", ""]) for _ in range(rows)],
    }
    return pa.table(columns, schema=records.change_schema(ATTRIBUTES))


@pytest.fixture
def diffs(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[int, pa.Table], list[int]]:
    random.seed(7)
    tables = {k: _partition(k, rows) for k, rows in enumerate(SIZES)}
    reads: list[int] = []
    lock = threading.Lock()

    def read_diff(store: Any, plan: Any, partition: int, kind: str) -> pa.Table:
        with lock:
            reads.append(partition)
        return tables[partition]

    monkeypatch.setattr(unit_rows, "read_diff", read_diff)
    monkeypatch.setattr(unit_rows, "CHUNK_ROWS", 2_048)
    return tables, reads


def _setup(tables: dict[int, pa.Table]) -> tuple[BatchCut, Any, SendGridDestination]:
    bounds = cut_bounds(
        pa.array([1] * sum(SIZES)).to_numpy(),
        dataclasses.replace(SendGridDestination.limits, upsert_batch_items=900),
        "changes",
    )
    offsets = [0]
    for rows in SIZES:
        offsets.append(offsets[-1] + rows)
    cut = BatchCut(
        offsets={"changes": offsets, "removals": [0] * (len(SIZES) + 1)},
        bounds={"changes": bounds, "removals": [0]},
        units=split_units({"changes": bounds, "removals": [0]}, width=1),
    )
    plan = SimpleNamespace(export=SimpleNamespace(attributes=lambda: list(ATTRIBUTES)))
    destination = SendGridDestination(
        client=None,  # type: ignore[arg-type]  # nothing is sent
        credential=Credential(SecretStr("key")),
        target=Target("list", tuple(ATTRIBUTES)),
    )
    destination._field_ids = {}
    return cut, plan, destination


@pytest.mark.parametrize(("threads", "seed"), [(1, 0), *((4, seed) for seed in range(6))])
def test_each_batch_gets_the_rows_and_bodies_of_reading_the_whole_unit(diffs: Any, threads: int, seed: int) -> None:
    tables, reads = diffs
    cut, plan, destination = _setup(tables)
    whole = pa.concat_tables([tables[k] for k in range(len(SIZES))])
    encoded = encode_changes(destination, whole, ATTRIBUTES)
    batches = list(range(cut.batches("changes")))
    rows = UnitInput(SimpleNamespace(store=None), plan, cut, destination, "changes", batches)  # type: ignore[arg-type]

    order = batches if threads == 1 else random.Random(seed).sample(batches, len(batches))
    with ThreadPoolExecutor(threads) as pool:
        got = dict(zip(order, pool.map(rows.batch, order), strict=True))
    for index in batches:
        start, end = cut.rows_of("changes", index)
        batch, bodies = got[index]
        assert list(batch) == list(contacts(whole.slice(start, end - start), ATTRIBUTES))
        assert bodies == encoded.slice(start, end - start).to_pylist()
    assert not rows._chunks  # every chunk freed once its batches took their rows
    assert len(rows.rows._tables) <= unit_rows.KEPT_PARTITIONS
    if threads == 1:  # in order, each partition is read once
        assert sorted(reads) == [0, 1, 2, 3] or sorted(reads) == [0, 2, 3]
    emails = rows.emails(batches[-1])
    start, end = cut.rows_of("changes", batches[-1])
    assert emails.emails == whole.column(records.EMAIL).slice(start, end - start).to_pylist()


def test_a_chunk_that_cannot_be_read_fails_each_of_its_batches_and_is_read_again(diffs: Any, monkeypatch: Any) -> None:
    tables, _ = diffs
    cut, plan, destination = _setup(tables)
    rows = UnitInput(SimpleNamespace(store=None), plan, cut, destination, "changes", [0, 1, 2])  # type: ignore[arg-type]
    real = unit_rows.read_diff
    failures = iter([OSError("storage is down")])

    def flaky(*args: Any) -> pa.Table:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(*args)

    monkeypatch.setattr(unit_rows, "read_diff", flaky)
    with pytest.raises(OSError, match="storage is down"):
        rows.batch(0)
    with pytest.raises(OSError, match="storage is down"):
        rows.batch(1)  # the same chunk: its failure, not a silent empty batch
    batch, bodies = UnitInput(SimpleNamespace(store=None), plan, cut, destination, "changes", [0, 1, 2]).batch(0)  # type: ignore[arg-type]
    assert len(batch) == len(bodies) == 900


def test_batches_waiting_for_their_rows_leave_the_event_loops_threads_free(diffs: Any, monkeypatch: Any) -> None:
    """A batch waits in its thread for the chunk being read: on the loop's default executor such waits held
    back every other ``to_thread`` of the activities sharing the loop (the checks before a batch is sent,
    checkpoint saves), so ready units sent together once all reading was done. Here the default executor
    has one thread; the loop still gets it while two batches of one chunk wait for a slow read."""
    tables, _ = diffs
    cut, plan, destination = _setup(tables)
    rows = UnitInput(SimpleNamespace(store=None), plan, cut, destination, "changes", [0, 1, 2])  # type: ignore[arg-type]
    release = threading.Event()
    real = unit_rows.read_diff

    def slow(*args: Any) -> pa.Table:
        assert release.wait(10), "the read was never released"
        return real(*args)

    monkeypatch.setattr(unit_rows, "read_diff", slow)

    async def scenario() -> list[int]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        waiting = [asyncio.ensure_future(rows.prepare(index)) for index in (0, 1)]
        await asyncio.sleep(0.05)  # both in their threads: one reading, one waiting for that read
        free = await asyncio.wait_for(asyncio.to_thread(lambda: "free"), timeout=5)
        assert free == "free" and not any(task.done() for task in waiting)
        release.set()
        return [len(batch) for batch, _ in await asyncio.gather(*waiting)]

    assert asyncio.run(scenario()) == [900, 900]
