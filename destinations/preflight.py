"""Pre-flight checks run side by side, with one deterministic verdict.

An adapter's pre-flight asks the vendor several independent questions (does the credential work, does
the list exist, do the mapped fields exist). Asked one after another they cost one round trip each;
asked together they cost the slowest one. What is *reported* must not depend on which answer arrived
first, so every check runs to its end (``asyncio.gather(return_exceptions=True)``, not a ``TaskGroup``,
which would cancel the siblings of the first failure and make the verdict a race) and the error raised
is chosen by ``PRECEDENCE``, then by the order the checks were given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from shared.errors import CredentialRefused, FieldsMissing, TargetNotFound

# Which failure is reported when several checks fail, most telling first:
# - a refused credential explains every other refusal (a list or field read with a bad key fails too),
#   and no other fix matters until the credential is replaced;
# - a missing list makes its fields unanswerable (some vendors answer the field read with the list's 404);
# - missing fields are definite and name the fix;
# - anything else (a rate limit, a 5xx, a refused request, an unexpected error) in the order of the checks,
#   which is also what the sequential pre-flight reported.
PRECEDENCE: tuple[type[Exception], ...] = (CredentialRefused, TargetNotFound, FieldsMissing)


async def run_checks(*checks: Awaitable[object]) -> None:
    """Await ``checks`` concurrently; when any failed, raise the failure ``PRECEDENCE`` puts first.

    A ``BaseException`` that is not an ``Exception`` (a check's own cancellation) is raised before any
    vendor verdict: it says nothing about the vendor."""
    outcomes = await asyncio.gather(*checks, return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    for failure in failures:
        if not isinstance(failure, Exception):
            raise failure
    if not failures:
        return
    raise min(failures, key=_rank)


def _rank(failure: BaseException) -> int:
    """The position of the failure's kind in ``PRECEDENCE`` (unknown kinds after every known one).
    ``min`` keeps the first of equal ranks, so ties go to the earlier check."""
    for rank, kind in enumerate(PRECEDENCE):
        if isinstance(failure, kind):
            return rank
    return len(PRECEDENCE)
