"""Incremental and mirror sync, the mass-removal guard, dry runs and never re-subscribing — end to end
through the in-process orchestration, Azurite and each vendor's simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.local_env import DEFAULT_MAPPING, LocalEnv, local_env
from devtools.sample_data import profiles_for, write_profiles
from shared.models import RunStatus, SyncMode
from shared.pipeline.layout import snapshot_manifest
from tests.contract.vendor_cases import CASES

pytestmark = pytest.mark.e2e

# Vendor time runs 10x faster: simulator windows, latency and job delays and the pipeline's pacer are
# scaled alike, so the documented limits keep their shape and are still enforced.
TIME_SCALE = 0.1

VENDORS = sorted(CASES)
SEGMENT = "segments/members"
FIRST_RUN = 20_000
ONE_PERCENT = FIRST_RUN // 100


def attributes_of(vendor: str) -> list[str]:
    return [a for a in DEFAULT_MAPPING[vendor] if a != "email"]


@pytest.fixture(params=VENDORS)
def env(request: pytest.FixtureRequest, azurite: str) -> Iterator[LocalEnv]:
    settings = {
        "rows_per_partition": 5_000,
        "first_poll_seconds": 0.5,
        "max_poll_seconds": 2.0,
        "vendor_time_scale": TIME_SCALE,
    }
    with local_env(
        request.param, azurite, simulator_options={"job_delay": 0.2, "time_scale": TIME_SCALE}, settings=settings
    ) as environment:
        environment.add_connection()
        yield environment


def refresh(profiles: dict[str, dict[str, str]]) -> tuple[dict[str, dict[str, str]], set[str], set[str], set[str]]:
    """1% changed, 1% left, 1% joined."""
    emails = sorted(profiles)
    changed = set(emails[:ONE_PERCENT])
    left = set(emails[ONE_PERCENT : 2 * ONE_PERCENT])
    joined_profiles = profiles_for(range(FIRST_RUN, FIRST_RUN + ONE_PERCENT), seed=99)
    updated = {e: dict(p) for e, p in profiles.items() if e not in left}
    for email in changed:
        updated[email]["first_name"] = updated[email]["first_name"] + "-new"
    updated.update(joined_profiles)
    return updated, changed, left, set(joined_profiles)


@pytest.mark.parametrize("mode", [SyncMode.UPSERT, SyncMode.MIRROR])
async def test_refresh_sends_only_what_changed(env: LocalEnv, mode: SyncMode) -> None:
    profiles = profiles_for(range(FIRST_RUN))
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.add_export(segments=[SEGMENT], sync_mode=mode)
    _, first = await env.run("weekly")
    assert first is not None and first.outcomes.upserted == FIRST_RUN, first
    assert set(env.simulator.members(env.target_id)) == set(profiles)

    updated, changed, left, joined = refresh(profiles)
    write_profiles(env.runtime.segments, SEGMENT, updated)
    env.simulator.reset_log()
    _, second = await env.run("weekly")

    assert second is not None
    assert second.status is RunStatus.SUCCEEDED, second.errors
    assert sorted(env.simulator.upserted_emails()) == sorted(changed | joined)
    assert second.outcomes.upserted == len(changed | joined)
    assert second.outcomes.unchanged == len(updated) - len(changed | joined)
    assert second.outcomes.total() == second.profiles_read == len(updated)
    assert (second.added, second.updated) == (len(joined), len(changed))
    members = set(env.simulator.members(env.target_id))
    if mode is SyncMode.MIRROR:
        assert sorted(env.simulator.removed_emails()) == sorted(left)
        assert second.removed == len(left)
        assert members == set(updated)
    else:
        assert env.simulator.removed_emails() == []
        assert members == set(profiles) | joined


async def test_an_empty_upstream_segment_is_blocked_until_approved(env: LocalEnv) -> None:
    profiles = profiles_for(range(2_000))
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.add_export(segments=[SEGMENT], sync_mode=SyncMode.MIRROR)
    await env.run("weekly")
    snapshot_before = env.runtime.store.read_json(snapshot_manifest("weekly"))[0]
    write_profiles(env.runtime.segments, SEGMENT, {})
    env.simulator.reset_log()

    _, blocked = await env.run("weekly")

    assert blocked is not None and blocked.status is RunStatus.BLOCKED
    assert "mass-removal guard" in blocked.errors[0] and "approve_mass_removal" in blocked.errors[0]
    assert blocked.would_remove == len(profiles)
    assert env.simulator.writes() == []
    assert set(env.simulator.members(env.target_id)) == set(profiles)
    assert env.runtime.store.read_json(snapshot_manifest("weekly"))[0] == snapshot_before

    _, approved = await env.run("weekly", approve_mass_removal=True)

    assert approved is not None and approved.status is RunStatus.SUCCEEDED, approved.errors
    assert approved.removed == len(profiles)
    assert env.simulator.members(env.target_id) == {}


async def test_dry_run_writes_nothing_and_keeps_the_snapshot(env: LocalEnv) -> None:
    profiles = profiles_for(range(2_000))
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.add_export(segments=[SEGMENT], sync_mode=SyncMode.MIRROR)
    await env.run("weekly")
    snapshot_before = env.runtime.store.read_json(snapshot_manifest("weekly"))[0]
    updated, changed, left, joined = refresh_small(profiles)
    write_profiles(env.runtime.segments, SEGMENT, updated)
    env.simulator.reset_log()

    _, dry = await env.run("weekly", dry_run=True)

    assert dry is not None and dry.status is RunStatus.DRY_RUN
    assert env.simulator.writes() == []
    assert (dry.added, dry.updated, dry.would_remove) == (len(joined), len(changed), len(left))
    assert dry.outcomes.total() == dry.profiles_read
    assert env.runtime.store.read_json(snapshot_manifest("weekly"))[0] == snapshot_before


def refresh_small(
    profiles: dict[str, dict[str, str]],
) -> tuple[dict[str, dict[str, str]], set[str], set[str], set[str]]:
    emails = sorted(profiles)
    changed, left = set(emails[:10]), set(emails[10:30])
    updated = {e: dict(p) for e, p in profiles.items() if e not in left}
    for email in changed:
        updated[email]["first_name"] += "-new"
    joined = profiles_for(range(50_000, 50_005), seed=5)
    updated.update(joined)
    return updated, changed, left, set(joined)


@pytest.mark.parametrize("options", [{}, {"full_resync": True}, {"dry_run": True}])
async def test_an_unsubscribed_contact_stays_unsubscribed_in_every_mode(env: LocalEnv, options: dict) -> None:
    profiles = profiles_for(range(500))
    gone = sorted(profiles)[7]
    env.simulator.suppress(gone, env.target_id, {"first_name": "Before"})
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.add_export(segments=[SEGMENT], sync_mode=SyncMode.MIRROR)
    _, first = await env.run("weekly")
    assert first is not None and first.outcomes.suppressed == 1

    profiles[gone]["first_name"] = "Changed upstream"
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.simulator.reset_log()
    _, second = await env.run("weekly", **options)

    assert second is not None and second.outcomes.suppressed == 1
    assert gone not in env.simulator.upserted_emails()
    assert env.simulator.subscription_status(gone, env.target_id) not in ("subscribed", None)
    assert gone not in env.simulator.members(env.target_id)


def snapshot_emails(env: LocalEnv) -> set[str]:
    """Active contacts the committed snapshot believes the vendor holds."""
    import io

    import pyarrow.parquet as pq

    from shared.pipeline.layout import RunPaths

    manifest = env.runtime.store.read_json(snapshot_manifest("weekly"))[0]
    paths = RunPaths.from_root(manifest["root"])
    emails = set()
    for k in range(manifest["partitions"]):
        data = env.runtime.store.read_bytes_or_none(paths.snapshot_piece(k))
        if data:
            for entry in pq.read_table(io.BytesIO(data)).to_pylist():
                if not entry["suppressed"]:
                    emails.add(entry["email"])
    return emails


async def test_a_run_interrupted_during_sync_leaves_a_true_snapshot(
    env: LocalEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.orchestration import activities

    profiles = profiles_for(range(6_000))
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.add_export(segments=[SEGMENT], sync_mode=SyncMode.MIRROR)
    await env.run("weekly")
    updated, _changed, _left, _joined = refresh(profiles)
    write_profiles(env.runtime.segments, SEGMENT, updated)
    original = activities.apply_unit
    calls: dict[str, Any] = {"n": 0, "broken": None}

    async def dies_on_the_second(runtime, root, unit, *, deadline=None):  # every attempt there
        calls["n"] += 1
        if calls["n"] == 2:
            calls["broken"] = unit
        if unit == calls["broken"]:
            raise RuntimeError("worker lost")
        return await original(runtime, root, unit, deadline=deadline)

    monkeypatch.setattr(activities, "apply_unit", dies_on_the_second)
    _, interrupted = await env.run("weekly")
    assert interrupted is not None and interrupted.status is RunStatus.COMPLETED_WITH_ERRORS
    assert interrupted.outcomes.total() == interrupted.profiles_read
    assert snapshot_emails(env) == set(env.simulator.members(env.target_id))

    monkeypatch.setattr(activities, "apply_unit", original)
    _, rerun = await env.run("weekly")
    assert rerun is not None and rerun.status is RunStatus.SUCCEEDED, rerun.errors
    assert rerun.outcomes.total() == rerun.profiles_read
    assert snapshot_emails(env) == set(env.simulator.members(env.target_id)) == set(updated)


async def test_changing_the_field_mapping_forces_a_full_resync(env: LocalEnv) -> None:
    profiles = profiles_for(range(1_000))
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.add_export(segments=[SEGMENT])
    await env.run("weekly")
    mapping = dict(DEFAULT_MAPPING[env.vendor])
    mapping.pop("last_name")
    env.update_export("weekly", field_mapping=mapping)
    env.simulator.reset_log()

    _, second = await env.run("weekly")

    assert second is not None and second.full_resync
    assert second.outcomes.upserted == len(profiles) and second.outcomes.unchanged == 0
    assert sorted(env.simulator.upserted_emails()) == sorted(profiles)


async def test_a_contact_who_unsubscribes_between_runs_is_suppressed_from_then_on(env: LocalEnv) -> None:
    profiles = profiles_for(range(300))
    write_profiles(env.runtime.segments, SEGMENT, profiles)
    env.add_export(segments=[SEGMENT])
    _, first = await env.run("weekly")
    assert first is not None and first.outcomes.upserted == len(profiles)
    leaver = sorted(profiles)[3]
    env.simulator.suppress(leaver, env.target_id, {"first_name": "Unsubscribed"})
    profiles[leaver]["first_name"] = "Changed upstream"
    write_profiles(env.runtime.segments, SEGMENT, profiles)

    _, second = await env.run("weekly")
    env.simulator.reset_log()
    _, third = await env.run("weekly")

    assert second is not None and second.outcomes.suppressed == 1 and second.outcomes.upserted == 0
    assert env.simulator.subscription_status(leaver, env.target_id) not in ("subscribed", None)
    assert third is not None and third.outcomes.suppressed == 1 and third.outcomes.unchanged == len(profiles) - 1
    assert env.simulator.upserted_emails() == []
    if env.vendor == "brevo":  # the blocklist is read incrementally after the first run
        scans = [r for r in env.simulator.requests if r.path.endswith("/contacts") and r.method == "GET"]
        assert scans and all("modifiedSince" in r.query for r in scans)


@pytest.mark.parametrize("vendor", ["sendgrid", "omnisend"])
async def test_a_removal_the_vendor_never_applies_is_failed_named_and_removed_by_the_next_run(
    azurite: str, vendor: str
) -> None:
    """SendGrid's removal from a list and Omnisend's untag are asynchronous with nothing to ask about them:
    their contacts are ``removed`` only once a lookup no longer finds them in the list (or the tag). One
    that never applies is given up: the rows are ``failed``, named in the rejected-rows file, kept in the
    snapshot and removed by the next run."""
    settings = {"first_poll_seconds": 0.05, "max_poll_seconds": 0.2, "poll_give_up_seconds": 1.0}
    with local_env(vendor, azurite, simulator_options={"job_delay": 0.05}, settings=settings) as env:
        env.add_connection()
        profiles = profiles_for(range(400))
        write_profiles(env.runtime.segments, SEGMENT, profiles)
        env.add_export(segments=[SEGMENT], sync_mode=SyncMode.MIRROR)
        _, first = await env.run("weekly")
        assert first is not None and first.outcomes.upserted == len(profiles), first

        left = sorted(profiles)[:3]
        staying = {email: profile for email, profile in profiles.items() if email not in left}
        write_profiles(env.runtime.segments, SEGMENT, staying)
        env.simulator.stall_removals = True
        _, second = await env.run("weekly")
        assert second is not None
        assert (second.removed, second.removal_failed) == (0, len(left)), second
        assert second.status is not RunStatus.SUCCEEDED and any("given up" in e for e in second.errors), second.errors
        assert set(left) <= set(env.simulator.members(env.target_id))  # still there, and not reported gone
        rejected = env.runtime.store.read_bytes(second.rejected_rows_blob or "").decode()
        assert all(any(email in row and "removal failed" in row for row in rejected.splitlines()) for email in left)

        env.simulator.stall_removals = False
        _, third = await env.run("weekly")
        assert third is not None and third.status is RunStatus.SUCCEEDED, third
        assert (third.removed, third.removal_failed) == (len(left), 0)
        assert set(env.simulator.members(env.target_id)) == set(staying)
