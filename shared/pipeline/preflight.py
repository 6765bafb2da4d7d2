"""Step 2 — pre-flight: the credential works, the target exists, the mapped fields exist."""

from __future__ import annotations

import functools
from datetime import timedelta

from destinations import destination_class
from shared.errors import CredentialRefused, NotFound, TargetNotFound
from shared.pipeline.pacing import with_retries
from shared.pipeline.plan import load_plan
from shared.pipeline.vendor import open_destination, retry_policy
from shared.runtime import Runtime


async def check_destination(runtime: Runtime, root: str) -> None:
    """Raises CredentialRefused, TargetNotFound, FieldsMissing (each naming the fix), NotFound when the
    connection's secret is missing, RetryableDestinationError when the vendor stayed unavailable."""
    plan = load_plan(runtime, root)
    connection = plan.connection
    try:
        async with open_destination(runtime, plan) as destination:
            await with_retries(destination.preflight, retry_policy(runtime))
            # Read once per run, not once per activity: on a large account this is many requests.
            loader = getattr(destination, "load_suppressed", None)
            if loader is not None:
                since = None
                if plan.snapshot is not None and plan.snapshot.started_at is not None and not plan.full_resync:
                    # Suppressions known at the last run are in the snapshot; a margin covers clock skew.
                    since = plan.snapshot.started_at - timedelta(seconds=runtime.settings.suppression_lookback_seconds)
                suppressed = await with_retries(functools.partial(loader, since), retry_policy(runtime))
                runtime.store.write_json(plan.paths.suppressed, suppressed)
    except CredentialRefused as exc:
        raise CredentialRefused(
            f"the credential of connection {connection.display_name!r} was refused by "
            f"{destination_class(connection.vendor).display_name}: "
            "update the connection's API key or re-authenticate",
            vendor=exc.vendor,
            status=exc.status,
        ) from None
    except TargetNotFound as exc:
        raise TargetNotFound(
            f"list {plan.export.target_id!r} does not exist in the {destination_class(connection.vendor).display_name} "
            f"account of connection {connection.display_name!r}: fix the export's target or the connection",
            vendor=exc.vendor,
            status=exc.status,
        ) from None
    except NotFound:
        raise NotFound(
            f"the credential of connection {connection.display_name!r} is missing from Key Vault "
            f"(secret {connection.secret_name!r}); save the connection's credential again"
        ) from None
