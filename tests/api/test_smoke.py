from __future__ import annotations

from tests.api.conftest import Harness


def test_a_run_over_http_finishes_and_its_rejected_rows_download(harness: Harness) -> None:
    harness.create_connection("main")
    harness.create_export("weekly", "main")
    started = harness.call("POST", "/api/exports/weekly/runs", json={})
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == "/api/exports/weekly/runs/current"
    view = harness.wait_for_run("weekly")
    assert view["status"] == "succeeded", view
    assert view["profiles_read"] == harness.sample.rows
    rows = harness.call("GET", view["links"]["rejected_rows"])
    assert rows.status_code == 200
    assert rows.headers["content-type"].startswith("text/csv")
    lines = rows.text.splitlines()
    assert (
        len(lines) - 1 == view["outcomes"]["invalid"] + view["outcomes"]["duplicate"] + view["outcomes"]["suppressed"]
    )
