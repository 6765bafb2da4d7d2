"""The CLI's connections, exports and runs commands against the served API."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from devtools.api_cli import app
from tests.api.conftest import Harness


def test_the_cli_creates_a_connection_and_an_export_runs_it_and_fetches_the_rejected_rows(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    runner = CliRunner()
    base = ["--url", h.url, "--token", h.tokens.admin()]

    def cli(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(app, [*base, *args], input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    created = cli(
        "connections", "create", "main", "--vendor", "sendgrid", "--accept-privacy",
        "--base-url", h.env.simulator.url, "--credential-stdin",
        stdin=h.env.simulator.api_key + "\n",
    )  # fmt: skip
    assert json.loads(created)["credential_set"] is True
    assert h.env.simulator.api_key not in created
    assert json.loads(cli("connections", "test", "main", h.env.target_id))["ok"] is True
    spec = tmp_path / "weekly.json"
    spec.write_text(json.dumps(h.export_body("weekly", "main")), encoding="utf-8")
    assert json.loads(cli("exports", "create", str(spec)))["id"] == "weekly"
    watched = cli("runs", "start", "weekly", "--wait")
    assert '"status": "succeeded"' in watched
    rejected = cli("runs", "rejected", "weekly")
    lines = rejected.splitlines()
    assert lines[0] == "segment,blob,line,email,outcome,reason"
    assert len(lines) - 1 == h.sample.invalid + h.sample.duplicate
    assert len(json.loads(cli("runs", "list", "weekly"))["items"]) == 1

    refused = runner.invoke(app, [*base, "exports", "get", "missing"])
    assert refused.exit_code == 1 and "404" in refused.output and "path.export_id" in refused.output
