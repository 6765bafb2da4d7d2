"""Run status and outcome counting from the steps' own row counts; the report refuses to exist when
the outcomes do not add up to the rows read."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from shared.models import HeldBackFile, OutcomeCounts, OutcomeInvariantBroken, RunReport, RunStatus, Trigger
from shared.pipeline.commit import count_outcomes, run_status
from shared.pipeline.diff import DiffResult
from shared.pipeline.finish import FinishResult
from shared.pipeline.stage import StageResult


def plan(parts: int = 1, partitions: int = 2) -> Any:
    return SimpleNamespace(
        parts=[SimpleNamespace(index=i, segment="s", blob=f"s/p{i}.csv") for i in range(parts)],
        partitions=partitions,
    )


def status(counts: OutcomeCounts, read: int, held: list[HeldBackFile] | None = None, **kw: Any) -> RunStatus:
    options = {"removed": 0, "removal_failed": 0, "errors": [], **kw}
    return run_status("applied", read, counts, held or [], **options)


def test_every_row_rejected_is_failed_not_succeeded() -> None:
    assert status(OutcomeCounts(rejected=10), 10) is RunStatus.FAILED
    assert status(OutcomeCounts(failed=3, invalid=2), 5) is RunStatus.FAILED


def test_some_rejected_or_failed_is_completed_with_errors() -> None:
    assert status(OutcomeCounts(upserted=9, rejected=1), 10) is RunStatus.COMPLETED_WITH_ERRORS
    assert status(OutcomeCounts(upserted=9, failed=1), 10) is RunStatus.COMPLETED_WITH_ERRORS
    assert status(OutcomeCounts(upserted=10), 10, removal_failed=1, removed=1) is RunStatus.COMPLETED_WITH_ERRORS


def test_intended_outcomes_only_is_succeeded() -> None:
    counts = OutcomeCounts(upserted=5, unchanged=3, invalid=1, duplicate=1, suppressed=2)
    assert status(counts, 12) is RunStatus.SUCCEEDED
    assert status(OutcomeCounts(unchanged=4), 4) is RunStatus.SUCCEEDED  # nothing to send is not a failure
    assert status(OutcomeCounts(), 0) is RunStatus.SUCCEEDED  # an empty segment


def test_held_back_files_and_nothing_valid() -> None:
    held = [HeldBackFile(segment="s", blob="s/b.csv", line=1, reason="x", rows=5)]
    assert status(OutcomeCounts(upserted=3), 3, held) is RunStatus.COMPLETED_WITH_ERRORS
    assert status(OutcomeCounts(), 0, held) is RunStatus.FAILED  # every file held back
    assert status(OutcomeCounts(invalid=7), 7) is RunStatus.FAILED  # no valid profile at all
    assert run_status("failed", 0, OutcomeCounts(), [], removed=0, removal_failed=0, errors=["x"]) is RunStatus.FAILED


def test_outcomes_are_counted_from_each_steps_rows() -> None:
    stages = [
        StageResult(part=0, read=10, invalid=1, staged={0: 5, 1: 4}),
        StageResult(
            part=1, read=0, invalid=0, held_back=HeldBackFile(segment="s", blob="s/p1.csv", reason="dup", rows=7)
        ),
    ]
    diffs = [DiffResult(partition=0, duplicate=1, unchanged=1, to_add=3), DiffResult(partition=1, to_add=4)]
    finishes = [FinishResult(partition=0, upserted=2, rejected=1)]  # partition 1 never finished
    read, counts, held = count_outcomes(plan(parts=3), stages, diffs, finishes)
    assert read == 10
    assert counts == OutcomeCounts(upserted=2, unchanged=1, invalid=1, duplicate=1, rejected=1, failed=4)
    assert [(h.blob, h.rows) for h in held] == [("s/p1.csv", 7), ("s/p2.csv", 0)]  # p2: never read
    assert held[1].reason.startswith("not read")


def test_a_partition_never_diffed_counts_its_staged_rows_failed() -> None:
    stages = [StageResult(part=0, read=6, invalid=0, staged={0: 2, 1: 4})]
    read, counts, _ = count_outcomes(plan(), stages, [DiffResult(partition=0, to_add=2)], [])
    assert (read, counts.failed, counts.total()) == (6, 6, 6)


def test_contradicting_counts_raise_naming_the_numbers() -> None:
    stages = [StageResult(part=0, read=3, invalid=0, staged={0: 3})]
    with pytest.raises(OutcomeInvariantBroken, match="partition 0: finish accounted for 2 rows, the diff had 3"):
        count_outcomes(
            plan(partitions=1), stages, [DiffResult(partition=0, to_add=3)], [FinishResult(partition=0, upserted=2)]
        )
    with pytest.raises(OutcomeInvariantBroken, match="partition 0: 3 rows staged, the diff accounted for 2"):
        count_outcomes(
            plan(partitions=1), stages, [DiffResult(partition=0, to_add=2)], [FinishResult(partition=0, upserted=2)]
        )


def test_the_report_refuses_to_exist_when_outcomes_do_not_add_up() -> None:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "export_id": "e",
        "run_id": "r",
        "vendor": "sendgrid",
        "trigger": Trigger.ON_DEMAND,
        "status": RunStatus.SUCCEEDED,
        "started_at": now,
        "finished_at": now,
    }
    with pytest.raises(
        ValidationError, match=r"outcomes add up to 9 \(upserted 8, failed 1\), but 10 profiles were read"
    ):
        RunReport(**fields, profiles_read=10, outcomes=OutcomeCounts(upserted=8, failed=1))
    assert RunReport(**fields, profiles_read=9, outcomes=OutcomeCounts(upserted=8, failed=1)).profiles_read == 9
