"""An in-process Durable Functions host: drives the real orchestrator through the SDK's own replay.

Azure Functions Core Tools cannot run everywhere (and not in CI here), so this host does what the
Durable extension does, at the level the Python SDK sees it: it keeps each instance's history of
events, hands it to ``df.Orchestrator.create(fn)`` as the extension would (history JSON in, actions
out), runs the activities the actions ask for — concurrently, CPU-bound ones on a small thread pool,
async ones on the event loop — fires durable timers, appends ``TaskCompleted`` / ``TaskFailed`` /
``TimerFired`` events and replays until the orchestrator returns.

What it does not do: persistence across processes, sub-orchestrations, entities, external events.
``crash_after`` stops an instance after N activity completions, keeping its history, so a test can
check that ``resume`` finishes the work as a restarted host would.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

# History event types (azure.durable_functions.models.history.HistoryEventType).
EXECUTION_STARTED, EXECUTION_COMPLETED, EXECUTION_FAILED = 0, 1, 2
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6
TIMER_CREATED, TIMER_FIRED = 10, 11
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED = 12, 13


class HostCrash(Exception):
    """Raised inside the host to simulate a worker dying mid-run (test hook)."""


@dataclass
class Instance:
    instance_id: str
    name: str
    input: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    status: OrchestrationRuntimeStatus = OrchestrationRuntimeStatus.Pending
    output: Any = None
    error: str | None = None
    actions_seen: int = 0
    completions: int = 0


@dataclass
class LocalStatus:
    """The subset of ``DurableOrchestrationStatus`` callers use."""

    instance_id: str
    runtime_status: OrchestrationRuntimeStatus
    output: Any
    history_events: int


def _now() -> str:
    return datetime.now(UTC).isoformat()


class LocalDurableHost:
    def __init__(
        self,
        orchestrators: dict[str, Callable[..., Any]],
        activities: dict[str, Callable[[Any], Any]],
        *,
        activity_width: int = 16,
        cpu_width: int = 2,
        timer_scale: float = 1.0,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.handlers = {name: df.Orchestrator.create(fn) for name, fn in orchestrators.items()}
        self.activities = activities
        self.activity_width = activity_width
        self.timer_scale = timer_scale
        self.on_event = on_event
        self.pool = ThreadPoolExecutor(max_workers=cpu_width, thread_name_prefix="activity")
        self.instances: dict[str, Instance] = {}
        self.crash_after: int | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    # ---- the client API the timer trigger uses (same names as DurableOrchestrationClient) -------

    async def start_new(
        self, orchestration_function_name: str, instance_id: str | None = None, client_input: Any = None
    ) -> str:
        instance_id = instance_id or f"local-{len(self.instances) + 1}"
        current = self.instances.get(instance_id)
        if current is not None and current.status in (
            OrchestrationRuntimeStatus.Running,
            OrchestrationRuntimeStatus.Pending,
        ):
            raise RuntimeError(f"an instance with id {instance_id!r} is already running")
        instance = Instance(instance_id, orchestration_function_name, client_input)
        self.instances[instance_id] = instance
        self._tasks[instance_id] = asyncio.create_task(self._drive(instance))
        return instance_id

    async def get_status(self, instance_id: str) -> LocalStatus | None:
        instance = self.instances.get(instance_id)
        if instance is None:
            return None
        return LocalStatus(instance_id, instance.status, instance.output, len(instance.history))

    async def wait(self, instance_id: str) -> Instance:
        """Wait for the instance's driver to stop (completed, failed or crashed)."""
        task = self._tasks.get(instance_id)
        if task is not None:
            await task
        return self.instances[instance_id]

    async def run(self, name: str, instance_id: str, client_input: Any) -> Instance:
        await self.start_new(name, instance_id, client_input)
        return await self.wait(instance_id)

    async def resume(self, instance_id: str) -> Instance:
        """Continue a crashed instance from its history: unfinished activities run again."""
        instance = self.instances[instance_id]
        self.crash_after = None
        self._tasks[instance_id] = asyncio.create_task(self._drive(instance, resume=True))
        return await self.wait(instance_id)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # ---- the driver -------------------------------------------------------------------------

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(kind, payload)

    async def _run_activity(self, name: str, payload: Any) -> Any:
        fn = self.activities[name]
        if inspect.iscoroutinefunction(fn):
            return await fn(payload)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, fn, payload)

    def _replay(self, instance: Instance) -> dict[str, Any]:
        context = {
            "history": instance.history,
            "instanceId": instance.instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "input": json.dumps(instance.input),
            "upperSchemaVersion": 1,
        }
        result: str = self.handlers[instance.name](json.dumps(context))
        parsed: dict[str, Any] = json.loads(result)
        return parsed

    @staticmethod
    def _flatten(actions: list[Any]) -> list[dict[str, Any]]:
        flat: list[dict[str, Any]] = []
        for item in actions:
            if isinstance(item, list):
                flat.extend(LocalDurableHost._flatten(item))
            elif item.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
                flat.extend(LocalDurableHost._flatten(item["compoundActions"]))
            else:
                flat.append(item)
        return flat

    async def _drive(self, instance: Instance, resume: bool = False) -> None:
        running: dict[asyncio.Task[Any], tuple[int, dict[str, Any]]] = {}
        slots = asyncio.Semaphore(self.activity_width)
        history = instance.history
        if not resume:
            history.append({"EventType": ORCHESTRATOR_STARTED, "EventId": -1, "IsPlayed": False, "Timestamp": _now()})
            history.append(
                {
                    "EventType": EXECUTION_STARTED,
                    "EventId": -1,
                    "IsPlayed": False,
                    "Timestamp": _now(),
                    "Name": instance.name,
                    "Input": json.dumps(instance.input),
                    "Version": "",
                    "OrchestrationInstance": {"InstanceId": instance.instance_id},
                }
            )
        else:
            # Work that was scheduled but never completed is scheduled again, as a restarted host would.
            finished = {e["TaskScheduledId"] for e in history if e["EventType"] in (TASK_COMPLETED, TASK_FAILED)}
            fired = {e["TimerId"] for e in history if e["EventType"] == TIMER_FIRED}
            history.append({"EventType": ORCHESTRATOR_STARTED, "EventId": -1, "IsPlayed": False, "Timestamp": _now()})
            for event in list(history):
                if event["EventType"] == TASK_SCHEDULED and event["EventId"] not in finished:
                    action = {"functionName": event["Name"], "input": event["Input"]}
                    running[self._start_activity(action, slots)] = (event["EventId"], {"kind": "activity", **action})
                elif event["EventType"] == TIMER_CREATED and event["EventId"] not in fired:
                    running[self._start_timer(event["FireAt"])] = (
                        event["EventId"],
                        {"kind": "timer", "fireAt": event["FireAt"]},
                    )
        instance.status = OrchestrationRuntimeStatus.Running
        try:
            while True:
                try:
                    state = self._replay(instance)
                except Exception as exc:
                    message = str(exc).split("\n\n$OutOfProcData$")[0]
                    self._finish(instance, failed=message)
                    return
                history.append(
                    {"EventType": ORCHESTRATOR_COMPLETED, "EventId": -1, "IsPlayed": False, "Timestamp": _now()}
                )
                actions = self._flatten(state.get("actions") or [])
                for sequence in range(instance.actions_seen, len(actions)):
                    action = actions[sequence]
                    kind = action["actionType"]
                    if kind == ActionType.CALL_ACTIVITY:
                        history.append(
                            {
                                "EventType": TASK_SCHEDULED,
                                "EventId": sequence,
                                "IsPlayed": False,
                                "Timestamp": _now(),
                                "Name": action["functionName"],
                                "Input": action.get("input"),
                            }
                        )
                        running[self._start_activity(action, slots)] = (sequence, {"kind": "activity", **action})
                        self._emit("scheduled", {"name": action["functionName"], "input": action.get("input")})
                    elif kind == ActionType.CREATE_TIMER:
                        history.append(
                            {
                                "EventType": TIMER_CREATED,
                                "EventId": sequence,
                                "IsPlayed": False,
                                "Timestamp": _now(),
                                "FireAt": action["fireAt"],
                            }
                        )
                        running[self._start_timer(action["fireAt"])] = (sequence, {"kind": "timer", **action})
                    else:
                        raise NotImplementedError(f"the local host does not support action type {kind}")
                instance.actions_seen = len(actions)
                if state.get("isDone"):
                    self._finish(instance, output=state.get("output"))
                    return
                if not running:
                    self._finish(instance, failed="orchestrator is waiting for nothing")
                    return
                done, _ = await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
                history.append(
                    {"EventType": ORCHESTRATOR_STARTED, "EventId": -1, "IsPlayed": False, "Timestamp": _now()}
                )
                for task in done:
                    sequence, action = running.pop(task)
                    history.append(self._completion_event(task, sequence, action))
                    if action["kind"] == "activity":
                        instance.completions += 1
                        self._emit(
                            "completed",
                            {
                                "name": action["functionName"],
                                "input": action.get("input"),
                                "ok": task.exception() is None,
                                "result": None if task.exception() else task.result(),
                            },
                        )
                if self.crash_after is not None and instance.completions >= self.crash_after:
                    for task in running:
                        task.cancel()
                    await asyncio.gather(*running, return_exceptions=True)
                    # Work in flight dies with the worker; its TaskScheduled events stay, so resume reruns it.
                    instance.status = OrchestrationRuntimeStatus.Failed
                    instance.error = "host crashed (simulated)"
                    return
        finally:
            for task in running:
                task.cancel()

    def _start_activity(self, action: dict[str, Any], slots: asyncio.Semaphore) -> asyncio.Task[Any]:
        name = action["functionName"]
        raw = action.get("input")
        payload = json.loads(raw) if isinstance(raw, str) else raw

        async def run() -> Any:
            async with slots:
                return await self._run_activity(name, payload)

        return asyncio.create_task(run())

    def _start_timer(self, fire_at: str) -> asyncio.Task[Any]:
        due = datetime.fromisoformat(fire_at.replace("Z", "+00:00"))
        if due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        delay = max(0.0, (due - datetime.now(UTC)).total_seconds()) * self.timer_scale
        return asyncio.create_task(asyncio.sleep(delay))

    @staticmethod
    def _completion_event(task: asyncio.Task[Any], sequence: int, action: dict[str, Any]) -> dict[str, Any]:
        if action["kind"] == "timer":
            return {
                "EventType": TIMER_FIRED,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": _now(),
                "TimerId": sequence,
                "FireAt": action["fireAt"],
            }
        error = task.exception()
        if error is None:
            return {
                "EventType": TASK_COMPLETED,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": _now(),
                "TaskScheduledId": sequence,
                "Result": json.dumps(task.result()),
            }
        return {
            "EventType": TASK_FAILED,
            "EventId": -1,
            "IsPlayed": False,
            "Timestamp": _now(),
            "TaskScheduledId": sequence,
            "Reason": str(error) or type(error).__name__,
            "Details": "".join(traceback.format_exception_only(type(error), error)).strip(),
        }

    def _finish(self, instance: Instance, *, output: Any = None, failed: str | None = None) -> None:
        if failed is None:
            instance.status = OrchestrationRuntimeStatus.Completed
            instance.output = output
            instance.history.append(
                {
                    "EventType": EXECUTION_COMPLETED,
                    "EventId": -1,
                    "IsPlayed": False,
                    "Timestamp": _now(),
                    "Result": json.dumps(output),
                }
            )
        else:
            instance.status = OrchestrationRuntimeStatus.Failed
            instance.error = failed
            instance.history.append(
                {"EventType": EXECUTION_FAILED, "EventId": -1, "IsPlayed": False, "Timestamp": _now(), "Reason": failed}
            )
        self._emit("finished", {"instance_id": instance.instance_id, "status": instance.status.value})
