"""What the contract tests share: an HTTP client for the adapters, and the counts of their traffic through
Prism (the official specs), printed at the end of the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

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


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c
