"""A local stand-in for the Durable Functions extension, driving the app through the real worker runtime.

Azure Functions Core Tools (the host and its Durable extension) cannot be installed everywhere, and not
in CI here. This module does the extension's part at the level the Python worker sees it:

- it keeps each instance's history of events and invokes the orchestrator function with it, as the
  extension does (history JSON in, actions and custom status out), and runs the actions: activities,
  activities with retry (the retry is the extension's job: a failed attempt is followed by a timer and
  a new attempt, with the event ids DTFx would give them, which the SDK's replay expects), timers and
  continue-as-new;
- it invokes every function **through the real worker runtime** (``devtools.functions_worker``:
  ``azure-functions-runtime`` indexes the app and converts every input and output), so an activity's
  input and result take exactly the JSON path they take in Azure, and an activity failure reaches the
  orchestrator with the extension's text: ``Activity function 'x' failed: Result: Failure\\nException:
  …``. Unit tests can swap in plain callables (``DirectDispatch``), which go through the same converters;
- it offers the client API (``start_new``, ``get_status``, ``terminate``) in-process, and the
  extension's HTTP management API on loopback (``serve_client_api``) so the SDK's own
  ``DurableOrchestrationClient`` — the one the timer trigger gets — can call it;
- with a ``HistoryStore`` on Blob Storage (Azurite) it persists every instance after each episode, as
  the extension's storage provider does, so a host process killed with SIGKILL and started again
  resumes the same run: work that was scheduled and never completed is run again.

What it does not do: sub-orchestrations, entities, external events, Durable HTTP; completions that arrive together are
delivered in one episode, except a retry's, which gets an episode of its own.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import azure.durable_functions as df
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azure.functions import _durable_functions as durable_json

# History event types (azure.durable_functions.models.history.HistoryEventType).
EXECUTION_STARTED, EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_TERMINATED = 0, 1, 2, 3
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6
TIMER_CREATED, TIMER_FIRED = 10, 11
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED = 12, 13

ACTIVE = {
    OrchestrationRuntimeStatus.Pending,
    OrchestrationRuntimeStatus.Running,
    OrchestrationRuntimeStatus.ContinuedAsNew,
    OrchestrationRuntimeStatus.Suspended,
}
OUT_OF_PROC_DATA = "\n\n$OutOfProcData$:"


class HostCrash(Exception):
    """Raised inside the host to simulate a worker dying mid-run (test hook)."""


class ActivityError(Exception):
    """An activity failed; ``reason`` and ``details`` as the extension writes them into TaskFailed."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


def activity_failure(name: str, host_text: str) -> ActivityError:
    """The extension's report of a failed activity (its TaskActivityShim): the reason carries the host's
    RpcException message, the details its serialized cause."""
    details = json.dumps({"$type": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException", "Message": host_text})
    return ActivityError(f"Activity function '{name}' failed: {host_text}", details)


def host_exception_text(exc: BaseException) -> str:
    """What the Functions host makes of a Python exception (the worker's RpcException)."""
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"Result: Failure\nException: {type(exc).__name__}: {exc}\nStack: {stack}"


class Dispatch(Protocol):
    """How the host invokes functions: through the real worker, or (unit tests) plain callables."""

    async def orchestrate(self, name: str, context_json: str) -> str: ...

    async def activity(self, name: str, input_json: str | None) -> str: ...


class WorkerDispatch:
    """Invokes the app's functions through ``azure-functions-runtime`` (see devtools.functions_worker)."""

    def __init__(self) -> None:
        from devtools.functions_worker import FunctionsWorker

        self.worker = FunctionsWorker.shared()

    async def orchestrate(self, name: str, context_json: str) -> str:
        from devtools.functions_worker import InvocationFailed

        try:
            return await self.worker.invoke_orchestrator(name, context_json)
        except InvocationFailed as failed:
            raise OrchestratorFailed(failed.message) from None

    async def activity(self, name: str, input_json: str | None) -> str:
        from devtools.functions_worker import InvocationFailed

        try:
            return await self.worker.invoke_activity(name, input_json)
        except InvocationFailed as failed:
            raise activity_failure(name, failed.host_text()) from None


class DirectDispatch:
    """Plain callables, with the worker's converters on both sides (unit tests with fake activities)."""

    def __init__(self, orchestrators: dict[str, Callable[..., Any]], activities: dict[str, Callable[[Any], Any]]):
        self.handlers = {name: df.Orchestrator.create(fn) for name, fn in orchestrators.items()}
        self.activities = activities

    async def orchestrate(self, name: str, context_json: str) -> str:
        try:
            return str(self.handlers[name](context_json))
        except Exception as exc:
            raise OrchestratorFailed(f"{type(exc).__name__}: {exc}") from None

    async def activity(self, name: str, input_json: str | None) -> str:
        fn = self.activities[name]
        payload = durable_json.df_loads(input_json) if input_json is not None else None
        try:
            if inspect.iscoroutinefunction(fn):
                result = await fn(payload)
            else:
                result = await asyncio.get_running_loop().run_in_executor(None, fn, payload)
        except Exception as exc:
            raise activity_failure(name, host_exception_text(exc)) from None
        return str(durable_json.df_dumps(result))


class OrchestratorFailed(Exception):
    """The orchestrator function raised; the text may carry the SDK's out-of-proc state."""


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(at: datetime | None = None) -> str:
    return (at or _now()).isoformat()


@dataclass
class Instance:
    instance_id: str
    name: str
    input: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    status: OrchestrationRuntimeStatus = OrchestrationRuntimeStatus.Pending
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    created: str = field(default_factory=_stamp)
    updated: str = field(default_factory=_stamp)
    actions_seen: int = 0
    next_id: int = 0
    completions: int = 0
    # task id → retry bookkeeping {"name", "input", "attempts", "max", "interval_ms"}
    retries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # retry timer id → the retry key it belongs to
    retry_timers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        data = dict(data)
        data["status"] = OrchestrationRuntimeStatus(data["status"])
        return cls(**data)


@dataclass
class LocalStatus:
    """The subset of ``DurableOrchestrationStatus`` callers use."""

    instance_id: str
    runtime_status: OrchestrationRuntimeStatus
    output: Any
    custom_status: Any
    history_events: int
    created_time: str = ""
    last_updated_time: str = ""


class HistoryStore(Protocol):
    def save(self, instance: Instance) -> None: ...

    def load(self, instance_id: str) -> Instance | None: ...

    def instance_ids(self) -> list[str]: ...


class BlobHistoryStore:
    """Instances as JSON blobs under ``durable/{task hub}/`` (the extension keeps them in Azure Storage
    tables; a blob per instance gives the same durability for a local stand-in)."""

    def __init__(self, store: Any, task_hub: str) -> None:
        self.store = store
        self.prefix = f"durable/{task_hub}/"

    def save(self, instance: Instance) -> None:
        self.store.write_json(f"{self.prefix}{instance.instance_id}.json", instance.to_json())

    def load(self, instance_id: str) -> Instance | None:
        document = self.store.read_json_or_none(f"{self.prefix}{instance_id}.json")
        return Instance.from_json(document) if document is not None else None

    def instance_ids(self) -> list[str]:
        return [name[len(self.prefix) : -5] for name in self.store.list_names(self.prefix) if name.endswith(".json")]


class LocalDurableHost:
    def __init__(
        self,
        dispatch: Dispatch | None = None,
        *,
        activity_width: int = 16,
        timer_scale: float = 1.0,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        history: HistoryStore | None = None,
    ) -> None:
        self.dispatch: Dispatch = dispatch if dispatch is not None else WorkerDispatch()
        self.activity_width = activity_width
        self.timer_scale = timer_scale
        self.on_event = on_event
        self.history_store = history
        self.instances: dict[str, Instance] = {}
        self.crash_after: int | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    # ---- the client API (same names as DurableOrchestrationClient) ----------------------------

    async def start_new(
        self, orchestration_function_name: str, instance_id: str | None = None, client_input: Any = None
    ) -> str:
        instance_id = instance_id or f"local-{len(self.instances) + 1}"
        current = self.instances.get(instance_id)
        if current is not None and current.status in ACTIVE:
            raise RuntimeError(f"an instance with id {instance_id!r} is already running")
        instance = Instance(instance_id, orchestration_function_name, client_input)
        self.instances[instance_id] = instance
        self._save(instance)
        self._tasks[instance_id] = asyncio.create_task(self._drive(instance))
        return instance_id

    async def get_status(self, instance_id: str) -> LocalStatus | None:
        instance = self.instances.get(instance_id)
        if instance is None and self.history_store is not None:
            instance = self.history_store.load(instance_id)
        if instance is None:
            return None
        return LocalStatus(
            instance_id,
            instance.status,
            instance.output,
            instance.custom_status,
            len(instance.history),
            instance.created,
            instance.updated,
        )

    async def terminate(self, instance_id: str, reason: str) -> None:
        """Stop an active instance at once: nothing it scheduled is delivered to it any more."""
        instance = self.instances.get(instance_id)
        if instance is None:
            raise KeyError(f"No instance with ID '{instance_id}' found.")
        if instance.status not in ACTIVE:
            return
        task = self._tasks.get(instance_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        instance.status = OrchestrationRuntimeStatus.Terminated
        instance.output = reason
        instance.history.append(self._event(EXECUTION_TERMINATED, Input=reason))
        self._save(instance)
        self._emit("finished", {"instance_id": instance_id, "status": instance.status.value})

    async def wait(self, instance_id: str) -> Instance:
        """Wait for the instance's driver to stop (completed, failed, terminated or crashed)."""
        while True:
            task = self._tasks.get(instance_id)
            if task is None:
                break
            await asyncio.gather(task, return_exceptions=True)
            if self._tasks.get(instance_id) is task:
                break
        return self.instances[instance_id]

    async def run(self, name: str, instance_id: str, client_input: Any) -> Instance:
        await self.start_new(name, instance_id, client_input)
        return await self.wait(instance_id)

    async def resume(self, instance_id: str) -> Instance:
        """Continue an instance from its history (after a crash or in a new process): work that was
        scheduled and never completed runs again, timers not yet fired are set again."""
        instance = self.instances.get(instance_id)
        if instance is None and self.history_store is not None:
            instance = self.history_store.load(instance_id)
        if instance is None:
            raise KeyError(f"No instance with ID '{instance_id}' found.")
        self.instances[instance_id] = instance
        self.crash_after = None
        self._tasks[instance_id] = asyncio.create_task(self._drive(instance, resume=True))
        return await self.wait(instance_id)

    def close(self) -> None:
        """Nothing to release (kept for callers that close hosts)."""

    # ---- the driver -------------------------------------------------------------------------

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(kind, payload)

    def _save(self, instance: Instance) -> None:
        instance.updated = _stamp()
        if self.history_store is not None:
            self.history_store.save(instance)

    async def _replay(self, instance: Instance) -> dict[str, Any]:
        context = {
            "history": instance.history,
            "instanceId": instance.instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "input": json.dumps(instance.input),
            "upperSchemaVersion": 1,
        }
        result = await self.dispatch.orchestrate(instance.name, json.dumps(context))
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

    def _event(self, event_type: int, **fields: Any) -> dict[str, Any]:
        return {"EventType": event_type, "EventId": -1, "IsPlayed": False, "Timestamp": _stamp(), **fields}

    def _start_execution(self, instance: Instance) -> None:
        instance.history = [
            self._event(ORCHESTRATOR_STARTED),
            self._event(
                EXECUTION_STARTED,
                Name=instance.name,
                Input=json.dumps(instance.input),
                Version="",
                OrchestrationInstance={"InstanceId": instance.instance_id},
            ),
        ]
        instance.actions_seen = 0
        instance.next_id = 0
        instance.retries = {}
        instance.retry_timers = {}

    async def _drive(self, instance: Instance, resume: bool = False) -> None:
        running: dict[asyncio.Task[Any], tuple[int, dict[str, Any]]] = {}
        slots = asyncio.Semaphore(self.activity_width)
        if not resume:
            self._start_execution(instance)
        else:
            # Work that was scheduled but never completed is scheduled again, as a restarted host would.
            done = {e["TaskScheduledId"] for e in instance.history if e["EventType"] in (TASK_COMPLETED, TASK_FAILED)}
            fired = {e["TimerId"] for e in instance.history if e["EventType"] == TIMER_FIRED}
            for event in instance.history:
                if event["EventType"] == TASK_SCHEDULED and event["EventId"] not in done:
                    action = {"kind": "activity", "functionName": event["Name"], "input": event.get("Input")}
                    running[self._start_activity(action, slots)] = (event["EventId"], action)
                elif event["EventType"] == TIMER_CREATED and event["EventId"] not in fired:
                    timer = {"kind": "timer", "fireAt": event["FireAt"]}
                    running[self._start_timer(event["FireAt"])] = (event["EventId"], timer)
            instance.history.append(self._event(ORCHESTRATOR_STARTED))
        instance.status = OrchestrationRuntimeStatus.Running
        try:
            while True:
                try:
                    state = await self._replay(instance)
                except OrchestratorFailed as failed:
                    self._fail(instance, str(failed))
                    return
                instance.history.append(self._event(ORCHESTRATOR_COMPLETED))
                if state.get("customStatus") is not None:
                    instance.custom_status = state["customStatus"]
                actions = self._flatten(state.get("actions") or [])
                for action in actions[instance.actions_seen :]:
                    kind = action["actionType"]
                    if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
                        task_id = self._schedule(instance, action, running, slots)
                        if kind == ActionType.CALL_ACTIVITY_WITH_RETRY:
                            options = action["retryOptions"]
                            instance.retries[str(task_id)] = {
                                "name": action["functionName"],
                                "input": action.get("input"),
                                "attempts": 1,
                                "max": int(options["maxNumberOfAttempts"]),
                                "interval_ms": int(options["firstRetryIntervalInMilliseconds"]),
                            }
                    elif kind == ActionType.CREATE_TIMER:
                        self._create_timer(instance, action["fireAt"], running)
                    elif kind == ActionType.CONTINUE_AS_NEW:
                        for task in running:
                            task.cancel()
                        running.clear()
                        given = action.get("input")
                        instance.input = json.loads(given) if isinstance(given, str) else given
                        instance.status = OrchestrationRuntimeStatus.ContinuedAsNew
                        self._start_execution(instance)
                        instance.status = OrchestrationRuntimeStatus.Running
                        self._emit("continued", {"instance_id": instance.instance_id})
                        break
                    else:
                        raise NotImplementedError(f"the local Durable host does not support action type {kind}")
                else:
                    instance.actions_seen = len(actions)
                    if state.get("isDone"):
                        self._complete(instance, state.get("output"))
                        return
                    if not running:
                        self._fail(instance, "the orchestrator is waiting for nothing")
                        return
                    self._save(instance)
                    await self._deliver(instance, running, slots)
                    if self.crash_after is not None and instance.completions >= self.crash_after:
                        await self._crash(instance, running)
                        return
                    continue
                # continued as new: replay the new generation from its start
                self._save(instance)
        finally:
            for task in running:
                task.cancel()

    def _schedule(
        self,
        instance: Instance,
        action: dict[str, Any],
        running: dict[asyncio.Task[Any], tuple[int, dict[str, Any]]],
        slots: asyncio.Semaphore,
    ) -> int:
        task_id = instance.next_id
        instance.next_id += 1
        instance.history.append(
            self._event(TASK_SCHEDULED, EventId=task_id, Name=action["functionName"], Input=action.get("input"))
        )
        work = {"kind": "activity", "functionName": action["functionName"], "input": action.get("input")}
        running[self._start_activity(work, slots)] = (task_id, work)
        self._emit("scheduled", {"name": action["functionName"], "input": action.get("input")})
        return task_id

    def _create_timer(
        self, instance: Instance, fire_at: str, running: dict[asyncio.Task[Any], tuple[int, dict[str, Any]]]
    ) -> int:
        timer_id = instance.next_id
        instance.next_id += 1
        instance.history.append(self._event(TIMER_CREATED, EventId=timer_id, FireAt=fire_at))
        running[self._start_timer(fire_at)] = (timer_id, {"kind": "timer", "fireAt": fire_at})
        return timer_id

    def _retry_related(self, instance: Instance, task: asyncio.Task[Any], sequence: int, work: dict[str, Any]) -> bool:
        """A retryable attempt that failed, or a retry timer that fired: the SDK gives the retry's
        timer and next attempt the next event ids while it replays that event, so such an event is
        delivered in an episode of its own (the ids then match those the host gives)."""
        if work["kind"] == "timer":
            return str(sequence) in instance.retry_timers
        return str(sequence) in instance.retries and task.exception() is not None

    async def _deliver(
        self,
        instance: Instance,
        running: dict[asyncio.Task[Any], tuple[int, dict[str, Any]]],
        slots: asyncio.Semaphore,
    ) -> None:
        """Wait for completions and append them to the history as one episode, as the extension does."""
        done = [task for task in running if task.done()]
        if not done:
            finished, _ = await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
            done = list(finished)
        done.sort(key=lambda t: running[t][0])
        batch: list[asyncio.Task[Any]] = []
        for task in done:
            related = self._retry_related(instance, task, *running[task])
            if related and batch:
                break
            batch.append(task)
            if related:
                break
        instance.history.append(self._event(ORCHESTRATOR_STARTED))
        for task in batch:
            sequence, work = running.pop(task)
            self._append_completion(instance, task, sequence, work, running, slots)

    def _append_completion(
        self,
        instance: Instance,
        task: asyncio.Task[Any],
        sequence: int,
        work: dict[str, Any],
        running: dict[asyncio.Task[Any], tuple[int, dict[str, Any]]],
        slots: asyncio.Semaphore,
    ) -> None:
        if work["kind"] == "timer":
            instance.history.append(self._event(TIMER_FIRED, TimerId=sequence, FireAt=work["fireAt"]))
            retry_key = instance.retry_timers.pop(str(sequence), None)
            if retry_key is not None:
                retry = instance.retries[retry_key]
                if retry["attempts"] < retry["max"]:
                    # The extension's retry: a new attempt, under the next event id.
                    retry["attempts"] += 1
                    action = {"functionName": retry["name"], "input": retry["input"]}
                    new_id = self._schedule(instance, action, running, slots)
                    instance.retries[str(new_id)] = instance.retries.pop(retry_key)
            return
        instance.completions += 1
        error = task.exception()
        if error is None:
            instance.history.append(self._event(TASK_COMPLETED, TaskScheduledId=sequence, Result=task.result()))
        else:
            reason, details = (
                (error.reason, error.details)
                if isinstance(error, ActivityError)
                else (f"Activity function '{work['functionName']}' failed: {error}", "")
            )
            instance.history.append(self._event(TASK_FAILED, TaskScheduledId=sequence, Reason=reason, Details=details))
            attempt = instance.retries.get(str(sequence))
            if attempt is not None:
                # DTFx waits on a timer after every failed attempt, the last one included.
                fire_at = _now() + timedelta(milliseconds=attempt["interval_ms"])
                timer_id = self._create_timer(instance, _stamp(fire_at), running)
                instance.retry_timers[str(timer_id)] = str(sequence)
        self._emit(
            "completed",
            {
                "name": work["functionName"],
                "input": work.get("input"),
                "ok": error is None,
                "result": None if error is not None else json.loads(task.result()),
                "error": None if error is None else str(error),
                "seconds": work.get("seconds", 0.0),
            },
        )

    async def _crash(self, instance: Instance, running: dict[asyncio.Task[Any], tuple[int, dict[str, Any]]]) -> None:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        running.clear()
        # Work in flight dies with the worker; its TaskScheduled events stay, so resume runs it again.
        instance.status = OrchestrationRuntimeStatus.Failed
        instance.error = "host crashed (simulated)"

    def _start_activity(self, work: dict[str, Any], slots: asyncio.Semaphore) -> asyncio.Task[Any]:
        name = work["functionName"]
        raw = work.get("input")
        text = raw if isinstance(raw, str) or raw is None else json.dumps(raw)

        async def run() -> Any:
            async with slots:
                work["started"] = time.monotonic()
                try:
                    return await self.dispatch.activity(name, text)
                finally:
                    work["seconds"] = time.monotonic() - work["started"]

        return asyncio.create_task(run())

    def _start_timer(self, fire_at: str) -> asyncio.Task[Any]:
        due = datetime.fromisoformat(fire_at.replace("Z", "+00:00"))
        if due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        delay = max(0.0, (due - _now()).total_seconds()) * self.timer_scale
        return asyncio.create_task(asyncio.sleep(delay))

    def _complete(self, instance: Instance, output: Any) -> None:
        instance.status = OrchestrationRuntimeStatus.Completed
        instance.output = output
        instance.history.append(self._event(EXECUTION_COMPLETED, Result=json.dumps(output)))
        self._save(instance)
        self._emit("finished", {"instance_id": instance.instance_id, "status": instance.status.value})

    def _fail(self, instance: Instance, text: str) -> None:
        message, _, state = text.partition(OUT_OF_PROC_DATA)
        if state:
            try:
                custom = json.loads(state).get("customStatus")
            except ValueError:
                custom = None
            if custom is not None:
                instance.custom_status = custom
        message = message.removeprefix("Exception: ")
        instance.status = OrchestrationRuntimeStatus.Failed
        instance.error = f"Orchestrator function '{instance.name}' failed: {message}"
        instance.output = instance.error
        instance.history.append(self._event(EXECUTION_FAILED, Reason=instance.error))
        self._save(instance)
        self._emit("finished", {"instance_id": instance.instance_id, "status": instance.status.value})


# ---- the extension's HTTP management API, for the SDK's DurableOrchestrationClient ----------------

WEBHOOK_PATH = "/runtime/webhooks/durabletask/"


async def serve_client_api(host: LocalDurableHost, task_hub: str = "SegmentExports") -> tuple[Any, dict[str, Any]]:
    """Serve the subset of the extension's HTTP API the client uses (start, status, terminate) on
    loopback. Returns (runner to clean up, the durable client binding the host hands to a function)."""
    from aiohttp import web

    async def start(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        instance_id = request.match_info.get("instance_id") or None
        body = await request.text()
        # The SDK posts the input already serialized (a JSON string holding the JSON input).
        given = json.loads(body) if body else None
        client_input = json.loads(given) if isinstance(given, str) else given
        try:
            started = await host.start_new(name, instance_id, client_input)
        except RuntimeError as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=409)
        return web.json_response({"id": started}, status=202)

    async def status(request: web.Request) -> web.Response:
        found = await host.get_status(request.match_info["instance_id"])
        if found is None:
            return web.json_response({}, status=404)
        body = {
            "name": host.instances[found.instance_id].name if found.instance_id in host.instances else "",
            "instanceId": found.instance_id,
            "runtimeStatus": found.runtime_status.value,
            "customStatus": found.custom_status,
            "output": found.output,
            "createdTime": found.created_time,
            "lastUpdatedTime": found.last_updated_time,
        }
        code = 202 if found.runtime_status in ACTIVE else 200
        return web.json_response(body, status=code)

    async def terminate(request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        found = await host.get_status(instance_id)
        if found is None:
            return web.Response(status=404)
        if found.runtime_status not in ACTIVE:
            return web.Response(status=410)
        await host.terminate(instance_id, request.query.get("reason", ""))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH + "orchestrators/{name}", start)
    app.router.add_post(WEBHOOK_PATH + "orchestrators/{name}/{instance_id}", start)
    app.router.add_get(WEBHOOK_PATH + "instances/{instance_id}", status)
    app.router.add_post(WEBHOOK_PATH + "instances/{instance_id}/terminate", terminate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    binding = {
        "taskHubName": task_hub,
        "creationUrls": {},
        "managementUrls": {},
        "baseUrl": base,
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": base,
    }
    return runner, binding
