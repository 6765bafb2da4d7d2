"""`make demo` must not rot: the same command, small, on its own Azurite and simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("vendor", ["sendgrid", "mailchimp", "brevo", "omnisend", "campaign_monitor"])
def test_demo_runs_end_to_end_and_checks_the_vendor_list(vendor: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devtools.cli", "demo", "--vendor", vendor, "--profiles", "3000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo passed" in done.stdout
    assert "Timer fired: started export-weekly" in done.stdout
    assert "Stopped the simulator and Azurite." in done.stdout
