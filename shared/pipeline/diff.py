"""Step 4a — diff one partition: dedupe across all segments, compare with the last snapshot.

Outputs, all under ``diff/p{k}.*``:
- ``upserts``  profiles to send: email, old hash, new hash, vendor id, part, line, attribute values
- ``removals`` contacts that left every segment (mirror mode): email, hash, flags, vendor id
- ``carry``    snapshot entries that stay as they are whatever the vendor answers
Nothing is sent here, so the mass-removal guard and dry runs decide before anything reaches a vendor.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

from shared.models import Outcome
from shared.pipeline.layout import SEP, partition_of, snapshot_sources
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.rejected import RejectedWriter
from shared.runtime import Runtime

SUPPRESSED_FLAG = "S"


class DiffResult(BaseModel):
    partition: int
    profiles: int = 0  # unique valid profiles in this partition
    duplicate: int = 0
    unchanged: int = 0
    suppressed_known: int = 0
    to_add: int = 0
    to_update: int = 0
    to_remove: int = 0
    list_size: int = 0  # snapshot entries we believe are active in the vendor list


def attribute_hash(values: str) -> str:
    return hashlib.blake2b(values.encode(), digest_size=8).hexdigest()


def read_snapshot(runtime: Runtime, plan: Plan, partition: int) -> dict[str, tuple[str, str, str]]:
    """email → (hash, flags, vendor id) of the last committed snapshot, for this partition."""
    snapshot = plan.snapshot
    entries: dict[str, tuple[str, str, str]] = {}
    if snapshot is None:
        return entries
    from shared.pipeline.layout import RunPaths

    old_paths = RunPaths.from_root(snapshot.root)
    filter_needed = snapshot.partitions != plan.partitions
    for piece in snapshot_sources(partition, plan.partitions, snapshot.partitions):
        data = runtime.store.read_bytes_or_none(old_paths.snapshot_piece(piece))
        if not data:
            continue
        for record in data.decode().splitlines():
            email, digest, flags, vendor_id = record.split(SEP)
            if filter_needed and partition_of(email, plan.partitions) != partition:
                continue
            entries[email] = (digest, flags, vendor_id)
    return entries


def diff_partition(runtime: Runtime, root: str, partition: int) -> DiffResult:
    """Diff partition ``partition`` of the run at ``root``. Idempotent (rewrites its outputs)."""
    plan = load_plan(runtime, root)
    paths = plan.paths
    store = runtime.store
    result = DiffResult(partition=partition)
    rejected = RejectedWriter(store, paths.rejected_piece(f"diff-p{partition:03d}"))

    # First occurrence wins: pieces are named by part index and parts are in segment order.
    current: dict[str, tuple[int, str]] = {}
    duplicates = 0
    for name in store.list_names(paths.stage_prefix(partition)):
        part_index = int(name.rsplit("/s", 1)[1].removesuffix(".tsv"))
        part = plan.parts[part_index]
        for record in store.read_bytes(name).decode().splitlines():
            email, rest = record.split(SEP, 1)
            if email in current:
                duplicates += 1
                first_part, first_rest = current[email]
                first = plan.parts[first_part]
                rejected.add(
                    part.segment,
                    part.blob,
                    rest.split(SEP, 1)[0],
                    email,
                    Outcome.DUPLICATE.value,
                    f"same email as {first.blob} line {first_rest.split(SEP, 1)[0]}",
                )
                continue
            current[email] = (part_index, rest)

    result.duplicate = duplicates
    old = read_snapshot(runtime, plan, partition)
    result.list_size = sum(1 for _, flags, _ in old.values() if SUPPRESSED_FLAG not in flags)
    full = plan.full_resync
    upserts: list[str] = []
    carry: list[str] = []
    suppressed_known = unchanged = to_update = to_add = 0
    for email, (part_index, rest) in current.items():
        line, _, values = rest.partition(SEP)
        digest = attribute_hash(values)
        previous = old.pop(email, None)
        if previous is not None:
            old_digest, flags, vendor_id = previous
            if SUPPRESSED_FLAG in flags:  # even a full resync never pushes a suppressed contact again
                suppressed_known += 1
                carry.append(SEP.join((email, old_digest, flags, vendor_id)))
                part = plan.parts[part_index]
                rejected.add(
                    part.segment,
                    part.blob,
                    line,
                    email,
                    Outcome.SUPPRESSED.value,
                    f"{plan.connection.vendor} refused this contact earlier (unsubscribed, bounced or blocklisted); "
                    "it is not sent again",
                )
                continue
            if old_digest == digest and not full:
                unchanged += 1
                carry.append(SEP.join((email, old_digest, flags, vendor_id)))
                continue
            to_update += 1
            upserts.append(SEP.join((email, old_digest, digest, vendor_id, str(part_index), rest)))
        else:
            to_add += 1
            upserts.append(SEP.join((email, "", digest, "", str(part_index), rest)))
    result.profiles = len(current)
    result.suppressed_known, result.unchanged = suppressed_known, unchanged
    result.to_update, result.to_add = to_update, to_add

    removals: list[str] = []
    for email, (digest, flags, vendor_id) in old.items():
        if not plan.mirror:
            carry.append(SEP.join((email, digest, flags, vendor_id)))  # upsert mode never removes
        elif SUPPRESSED_FLAG in flags:
            continue  # not an active member: nothing to remove, nothing to remember
        else:
            removals.append(SEP.join((email, digest, flags, vendor_id)))
    result.to_remove = len(removals)

    for kind, lines in (("upserts", upserts), ("removals", removals), ("carry", carry)):
        store.write_bytes(paths.diff_file(partition, kind), ("\n".join(lines) + "\n" if lines else "").encode())
    rejected.close()
    store.write_json(paths.diff_file(partition, "json"), result.model_dump())
    return result
