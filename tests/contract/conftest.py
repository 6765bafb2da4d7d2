"""Counts of the adapters' traffic through Prism (the official specs), printed at the end of the run."""

from __future__ import annotations

from typing import Any

# vendor → [requests through Prism, request violations, response violations, requests outside the specs]
PRISM_COUNTS: dict[str, list[int]] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PRISM_COUNTS:
        return
    terminalreporter.section("Prism (official specs) over the adapters' requests")
    for vendor, (served, requests, responses, outside) in sorted(PRISM_COUNTS.items()):
        terminalreporter.write_line(
            f"{vendor}: {served} adapter requests through prism proxy --errors, {requests} request violations, "
            f"{responses} response violations; {outside} requests to endpoints the copied specs do not cover"
        )
