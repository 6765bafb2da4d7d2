"""Prints the fault matrix's table (``scenarios.RESULTS``) once, at the end of the session."""

from __future__ import annotations

import pytest

from tests.reliability.scenarios import RESULTS, render


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault matrix: what each scenario lost, leaked and left in the vendor")
    for line in render(RESULTS):
        terminalreporter.write_line(line)
