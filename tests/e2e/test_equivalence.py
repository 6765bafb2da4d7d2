"""The pipeline behaves exactly as the golden run recorded: for each vendor, the same report figures,
the same contacts in the vendor's list, the same per-contact payload bytes, the same removals and the
same rejected rows (``devtools/golden.py`` describes the scenario and what is canonicalised).

When the behaviour changes on purpose, regenerate with ``python -m devtools.golden --write`` and
review the diff of ``tests/golden/equivalence.json``."""

from __future__ import annotations

import copy
import re

import pytest

from devtools.golden import VENDORS, VendorResult, differences, load_golden, run_scenario, summarise

GOLDEN, GOLDEN_LINES = load_golden()


@pytest.mark.e2e
@pytest.mark.parametrize("vendor", VENDORS)
async def test_each_vendor_receives_what_the_golden_run_recorded(azurite: str, vendor: str) -> None:
    result = await run_scenario(vendor, azurite)

    found = differences(vendor, GOLDEN, GOLDEN_LINES, result)
    assert not found, "the run differs from tests/golden/equivalence.json:\n" + "\n".join(found)


def test_a_difference_names_the_contacts_and_counts_that_changed() -> None:
    """The comparison itself: one contact's payload changed, one contact gone from the vendor's list
    and a report count off by one are each reported, with the contact named."""
    runs = copy.deepcopy(GOLDEN_LINES["sendgrid"])
    payloads = runs["refresh"]["payload_items"]
    changed = next(i for i, line in enumerate(payloads) if "-renamed" in line)
    payloads[changed] = payloads[changed].replace("-renamed", "-other")
    match = re.search(r'"email":"([^"]+)"', payloads[changed])
    assert match is not None
    changed_email = match.group(1)
    gone_line = runs["full"]["vendor_list"].pop(0)
    summaries = {run: summarise(copy.deepcopy(GOLDEN["sendgrid"][run]["report"]), runs[run]) for run in runs}
    summaries["full"]["report"]["outcomes"]["upserted"] += 1

    found = "\n".join(differences("sendgrid", GOLDEN, GOLDEN_LINES, VendorResult(summaries, runs)))

    assert "report.outcomes" in found
    assert "vendor_list: 1 contacts missing, 0 extra, 0 changed" in found
    assert f"      - {gone_line}" in found
    assert "payload_items: 0 contacts missing, 0 extra, 1 changed" in found
    assert changed_email in found and "-other" in found
    # Untouched sections are not reported.
    assert "rejected_rows" not in found and "removals" not in found
