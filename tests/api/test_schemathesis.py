"""schemathesis against the served API (uvicorn on loopback) with an admin token: no server error and
no answer outside the documented schema, for generated valid and invalid requests."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.api.openapi import generated
from tests.api.conftest import Harness

# Hypothesis keeps caches in ./.hypothesis by default: that would land in the published app folder.
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "segment-export-hypothesis"))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = 12


def fuzz(strategy: st.SearchStrategy, base_url: str, auth: dict[str, str], statuses: Counter[int]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=base_url, headers=auth, checks=CHECKS)
        statuses[response.status_code] += 1

    run()


def test_generated_requests_get_no_server_error_and_only_documented_answers(harness: Harness) -> None:
    h = harness
    h.create_connection("main")
    h.create_export("weekly", "main")
    assert h.call("POST", "/api/exports/weekly/runs", json={"dry_run": True}).status_code == 202
    h.wait_for_run("weekly")
    schema = schemathesis.openapi.from_dict(generated())
    auth = {"Authorization": f"Bearer {h.tokens.admin(lifetime=3600)}"}
    statuses: Counter[int] = Counter()
    unsatisfiable: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # Generated ids rarely name anything: a second pass pins them to the existing export and connection.
    pinned = {"export_id": "weekly", "connection_id": "main", "run_id": "current"}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in (None, pinned):
                names = {p.name for p in operation.path_parameters}
                fixed = {k: v for k, v in (path_parameters or {}).items() if k in names} or None
                if path_parameters is not None and fixed is None:
                    continue
                try:
                    fuzz(operation.as_strategy(generation_mode=mode, path_parameters=fixed), h.url, auth, statuses)
                except Unsatisfiable:
                    # Nothing of this operation can be made invalid (no parameters, no body).
                    assert mode is GenerationMode.NEGATIVE, operation.label
                    unsatisfiable.append(operation.label)
    h.wait_idle()
    cases = sum(statuses.values())
    print(
        f"schemathesis: {cases} cases over {len(operations)} operations; statuses {dict(sorted(statuses.items()))}; "
        f"no invalid request possible for {len(unsatisfiable)}"
    )
    assert cases >= len(operations) * 2 * EXAMPLES // 2
    assert not any(status >= 500 for status in statuses)
    assert {200, 202, 404, 422} <= set(statuses)
