"""Shared by the simulator tests: one Prism proxy per vendor per module, and the violation counts of
every proxy, printed at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.prism import PrismProxy

# vendor → [requests through Prism, response violations, request violations]
PRISM_COUNTS: dict[str, list[int]] = {}


def record(prism: PrismProxy) -> tuple[list[str], list[str]]:
    responses, requests = prism.response_violations(), prism.request_violations()
    counts = PRISM_COUNTS.setdefault(prism.vendor, [0, 0, 0])
    counts[0] += prism.requests_served()
    counts[1] += len(responses)
    counts[2] += len(requests)
    return responses, requests


@pytest.fixture(scope="module")
def through_prism() -> Iterator[Any]:
    """Start a Prism proxy for (vendor, upstream); its violations are asserted 0 and counted."""
    proxies: list[PrismProxy] = []

    def start(vendor: str, upstream: str) -> PrismProxy:
        proxy = PrismProxy(vendor, upstream)
        proxy.start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        try:
            responses, requests = record(proxy)
        finally:
            proxy.stop()
        assert responses == [], f"{proxy.vendor}: simulator responses that violate the spec: {responses}"
        assert requests == [], f"{proxy.vendor}: requests that violate the spec: {requests}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not PRISM_COUNTS:
        return
    terminalreporter.section("Prism (official specs) over the simulators")
    for vendor, (served, responses, requests) in sorted(PRISM_COUNTS.items()):
        terminalreporter.write_line(
            f"{vendor}: {served} requests through prism proxy --errors, {responses} response violations, "
            f"{requests} request violations"
        )
