"""Suppressions: addresses the vendor suppresses (unsubscribed, bounced, blocklisted) are never sent.

One module for the whole life of a suppression within a run:
- ``read_suppressions`` (pre-flight, once per run): vendors that can list their suppressions
  (``Destination.reads_suppressions``) are asked, since the last committed run when there was one (older
  suppressions are remembered in the export's snapshot), and the answer is stored with the run;
- ``hand_over`` (every apply and poll activity): the stored answer is given to the adapter;
- ``withhold`` (per batch): rows on it are taken out of the batch and reported ``suppressed`` with the
  vendor's reason; the rest are sent. Vendors whose upsert answer names suppressed contacts itself
  (Mailchimp, Campaign Monitor) report those rows from that answer instead.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import timedelta

from destinations.base import Contact, ContactBatch, Destination, Outcome, emails_of
from shared.pipeline.pacing import RetryPolicy, with_retries
from shared.pipeline.plan import Plan
from shared.runtime import Runtime


async def read_suppressions(runtime: Runtime, plan: Plan, destination: Destination, policy: RetryPolicy) -> None:
    """Ask the vendor (when it can tell) and store the answer with the run.

    Raises CredentialRefused, TargetNotFound, RetryableDestinationError once retries are spent."""
    if not type(destination).reads_suppressions:
        runtime.store.write_json(plan.paths.suppressed, {})
        return
    since = None
    if plan.snapshot is not None and plan.snapshot.started_at is not None and not plan.full_resync:
        # Suppressions known at the last run are in the snapshot; a margin covers clock skew.
        since = plan.snapshot.started_at - timedelta(seconds=runtime.settings.suppression_lookback_seconds)
    suppressed = await with_retries(functools.partial(destination.load_suppressed, since), policy)
    runtime.store.write_json(plan.paths.suppressed, suppressed)


def hand_over(runtime: Runtime, plan: Plan, destination: Destination) -> None:
    """Give the adapter the suppressions pre-flight stored for this run."""
    destination.suppressed = runtime.store.read_json_or_none(plan.paths.suppressed) or {}


def withhold(
    contacts: Sequence[Contact], encoded: Sequence[bytes], suppressed: Mapping[str, str]
) -> tuple[Sequence[Contact], list[bytes], dict[str, list[str]]]:
    """(contacts to send, their encodings, email → [suppressed, reason] for the rows withheld)."""
    if not suppressed:
        return contacts, list(encoded), {}
    emails = emails_of(contacts)
    keep = [i for i, email in enumerate(emails) if email not in suppressed]
    withheld = {email: [Outcome.SUPPRESSED.value, suppressed[email]] for email in emails if email in suppressed}
    if len(keep) == len(emails):
        return contacts, list(encoded), {}
    return _rows(contacts, keep), [encoded[i] for i in keep] if encoded else [], withheld


def without(contacts: Sequence[Contact], emails: Mapping[str, object]) -> Sequence[Contact]:
    """The contacts whose email is not in ``emails``, in order."""
    return _rows(contacts, [i for i, email in enumerate(emails_of(contacts)) if email not in emails])


def _rows(contacts: Sequence[Contact], rows: list[int]) -> Sequence[Contact]:
    if isinstance(contacts, ContactBatch):
        return contacts.take(rows)
    return [contacts[i] for i in rows]
