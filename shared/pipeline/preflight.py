"""Step 2 — pre-flight: the credential works, the target exists, the mapped fields exist; then the
vendor's suppressions are read once for the run (``shared.pipeline.suppressions``)."""

from __future__ import annotations

from destinations import destination_class
from shared.errors import NotFound, TargetNotFound
from shared.pipeline.pacing import with_retries
from shared.pipeline.plan import load_plan
from shared.pipeline.suppressions import read_suppressions
from shared.pipeline.vendor import open_destination, retry_policy
from shared.runtime import Runtime


async def check_destination(runtime: Runtime, root: str) -> None:
    """Raises CredentialRefused (naming the connection and the fix), TargetNotFound, FieldsMissing (each
    naming the fix), NotFound when the connection's secret is missing, RetryableDestinationError when the
    vendor stayed unavailable."""
    plan = load_plan(runtime, root)
    connection = plan.connection
    try:
        async with open_destination(runtime, plan) as destination:
            await with_retries(destination.preflight, retry_policy(runtime))
            # Once per run: every later activity restores this instead of asking the vendor again.
            await with_retries(destination.prepare, retry_policy(runtime))
            runtime.store.write_json(plan.paths.prepared, destination.prepared_state())
            # Read once per run, not once per activity: on a large account this is many requests.
            await read_suppressions(runtime, plan, destination, retry_policy(runtime))
    except TargetNotFound as exc:
        raise TargetNotFound(
            f"{destination_class(connection.vendor).target_noun} {plan.export.target_id!r} does not exist in the "
            f"{destination_class(connection.vendor).display_name} account of connection {connection.display_name!r}: "
            "fix the export's target or the connection",
            vendor=exc.vendor,
            status=exc.status,
        ) from None
    except NotFound:
        raise NotFound(
            f"the credential of connection {connection.display_name!r} is missing from Key Vault "
            f"(secret {connection.secret_name!r}); save the connection's credential again"
        ) from None
