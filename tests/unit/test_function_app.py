"""The Functions app indexes as the host would: one orchestrator, every activity, the timer — with the
binding names and the schedule setting the host resolves."""

from __future__ import annotations

import json

from shared.activities import ACTIVITIES
from shared.orchestrator import ORCHESTRATOR


def test_the_app_registers_the_orchestration_activities_and_timer() -> None:
    from function_app import app

    functions = {f.get_function_name(): f for f in app.get_functions()}
    assert ORCHESTRATOR in functions
    assert set(ACTIVITIES) <= set(functions)
    bindings = {name: json.loads(f.get_function_json())["bindings"] for name, f in functions.items()}
    assert bindings[ORCHESTRATOR][0]["type"] == "orchestrationTrigger"
    for name in ACTIVITIES:
        assert bindings[name][0] == {**bindings[name][0], "type": "activityTrigger", "name": "payload"}
    timer = bindings["scheduled_refresh"]
    assert any(b["type"] == "timerTrigger" and b["schedule"] == "%EXPORT_SCHEDULE%" for b in timer)
    assert any(b["type"] == "durableClient" for b in timer)
