"""Step 2 — pre-flight: the credential works, the target exists, the mapped fields exist. Then, beside
stage (which does not need it; apply does), the vendor's suppressions are read once for the run
(``shared.pipeline.suppressions``): on a large list that read is the longest part of a refresh (Brevo
pages through every member the last run wrote), and staging need not wait for it."""

from __future__ import annotations

from destinations import destination_class
from shared.errors import NotFound, TargetNotFound
from shared.pipeline.pacing import with_retries
from shared.pipeline.plan import Plan, load_plan
from shared.pipeline.suppressions import read_suppressions
from shared.pipeline.vendor import open_destination, retry_policy
from shared.runtime import Runtime


async def check_destination(runtime: Runtime, root: str) -> None:
    """Raises CredentialRefused (naming the connection and the fix), TargetNotFound, FieldsMissing (each
    naming the fix), NotFound when the connection's secret is missing, RetryableDestinationError when the
    vendor stayed unavailable."""
    plan = load_plan(runtime, root)
    try:
        async with open_destination(runtime, plan) as destination:
            await with_retries(destination.preflight, retry_policy(runtime))
            # Once per run: every later activity restores this instead of asking the vendor again.
            await with_retries(destination.prepare, retry_policy(runtime))
            runtime.store.write_json(plan.paths.prepared, destination.prepared_state())
    except TargetNotFound as exc:
        raise _target_not_found(plan, exc) from None
    except NotFound:
        raise _secret_missing(plan) from None


async def read_run_suppressions(runtime: Runtime, root: str) -> None:
    """Read the vendor's suppressions once for the run (not once per activity: on a large account this is
    many requests) and store them with it. Runs beside ``check_destination`` and needs nothing ``prepare``
    learns, so it does not prepare (it would read the custom fields a second time while pre-flight does).

    Raises as ``check_destination``."""
    plan = load_plan(runtime, root)
    if not destination_class(plan.connection.vendor).reads_suppressions:
        runtime.store.write_json(plan.paths.suppressed, {})  # the upsert answer names them: nothing to read
        return
    try:
        async with open_destination(runtime, plan) as destination:
            await read_suppressions(runtime, plan, destination, retry_policy(runtime))
    except TargetNotFound as exc:
        raise _target_not_found(plan, exc) from None
    except NotFound:
        raise _secret_missing(plan) from None


def _target_not_found(plan: Plan, exc: TargetNotFound) -> TargetNotFound:
    connection = plan.connection
    return TargetNotFound(
        f"{destination_class(connection.vendor).target_noun} {plan.export.target_id!r} does not exist in the "
        f"{destination_class(connection.vendor).display_name} account of connection {connection.display_name!r}: "
        "fix the export's target or the connection",
        vendor=exc.vendor,
        status=exc.status,
    )


def _secret_missing(plan: Plan) -> NotFound:
    connection = plan.connection
    return NotFound(
        f"the credential of connection {connection.display_name!r} is missing from Key Vault "
        f"(secret {connection.secret_name!r}); save the connection's credential again"
    )
