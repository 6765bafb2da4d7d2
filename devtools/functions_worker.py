"""Plays the Functions host's side of the worker protocol against the real Python worker runtime.

From Python 3.13 the code that indexes, loads and invokes a function app is the PyPI package
``azure-functions-runtime``; in Azure, a thin proxy worker inside the host image receives the host's
gRPC messages and calls ``azure_functions_runtime.handle_event`` with them. This module is that proxy
for tests and local runs: it builds the same protobuf messages (compiled from
``third_party/functions-protobuf`` by ``devtools.worker_protos``) and calls the same entry points, so
whatever the runtime would refuse in Azure — a binding annotation, a payload it cannot decode, a return
value it cannot encode — fails here too.

The runtime keeps its registry in module globals, so there is one ``FunctionsWorker`` per process
(``FunctionsWorker.shared()``).

What it does not do: it is not the Functions host. Bindings are resolved the way the host would hand
them over (an activity's input as the Durable extension's JSON string, a durable client's binding
as the extension's JSON document), but no trigger listens for anything: callers invoke.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from devtools import worker_protos

REPO = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO / ".run" / "protos"


class WorkerInitError(RuntimeError):
    """The runtime refused to index or load the app (the host would then load no function at all)."""


class InvocationFailed(RuntimeError):
    """A function invocation ended with ``StatusResult.Failure``; ``message`` and ``stack`` as the
    runtime reported them (``"ValueError: boom"``, the formatted stack)."""

    def __init__(self, function: str, message: str, stack: str) -> None:
        super().__init__(f"{function}: {message}")
        self.function = function
        self.message = message
        self.stack = stack

    def host_text(self) -> str:
        """The text the Functions host builds from a failed invocation (its ``RpcException``)."""
        return f"Result: Failure\nException: {self.message}\nStack: {self.stack}"


class _Message:
    """What ``handle_event``'s functions take: ``.request`` (a StreamingMessage) and ``.properties``."""

    def __init__(self, request: Any, properties: dict[str, Any] | None = None) -> None:
        self.request = request
        self.properties = properties or {}


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    function_id: str
    bindings: dict[str, dict[str, Any]]  # binding name → {"type", "direction", ...} as the host sees it

    @property
    def trigger(self) -> dict[str, Any]:
        return next(b for b in self.bindings.values() if b["type"].endswith("Trigger"))


class FunctionsWorker:
    _shared: ClassVar[FunctionsWorker | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, app_directory: Path = REPO) -> None:
        self.app_directory = app_directory
        self.protos: ModuleType = worker_protos.load(PROTO_DIR)
        self.functions: dict[str, FunctionInfo] = {}
        self.init_response: Any = None

    @classmethod
    def shared(cls) -> FunctionsWorker:
        """The process's worker, initialised and with every function loaded (raises WorkerInitError)."""
        with cls._lock:
            if cls._shared is None:
                worker = cls()
                worker.start()
                cls._shared = worker
            return cls._shared

    # ---- init, metadata, load -----------------------------------------------------------------

    def start(self) -> None:
        """worker_init_request → functions_metadata_request → function_load_request for each function."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._start())
            return
        # Called from inside an event loop (an async test, the demo): initialise on a loop of its own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, self._start()).result()

    async def _start(self) -> None:
        from azure_functions_runtime import handle_event

        p = self.protos
        # The proxy worker puts the app's folder on sys.path before it hands over (so `function_app` imports).
        if str(self.app_directory) not in sys.path:
            sys.path.insert(0, str(self.app_directory))
        init = p.StreamingMessage(
            request_id=str(uuid.uuid4()),
            worker_init_request=p.WorkerInitRequest(
                host_version="4.1040.0",
                function_app_directory=str(self.app_directory),
                capabilities={},
            ),
        )
        response = await handle_event.worker_init_request(_Message(init, {"protos": p, "host": "127.0.0.1"}))
        self.init_response = response
        if response.result.status != p.StatusResult.Success:
            raise WorkerInitError(response.result.exception.message)
        metadata = await handle_event.functions_metadata_request(
            _Message(
                p.StreamingMessage(
                    functions_metadata_request=p.FunctionsMetadataRequest(
                        function_app_directory=str(self.app_directory)
                    )
                )
            )
        )
        if metadata.result.status != p.StatusResult.Success:
            raise WorkerInitError(metadata.result.exception.message)
        for item in metadata.function_metadata_results:
            # The host reads each binding's raw JSON (what function.json would hold).
            bindings = {parsed["name"]: parsed for parsed in map(json.loads, item.raw_bindings)}
            load = await handle_event.function_load_request(
                _Message(
                    p.StreamingMessage(
                        function_load_request=p.FunctionLoadRequest(function_id=item.function_id, metadata=item)
                    )
                )
            )
            if load.result.status != p.StatusResult.Success:
                raise WorkerInitError(f"{item.name}: {load.result.exception.message}")
            self.functions[item.name] = FunctionInfo(item.name, item.function_id, bindings)

    # ---- invocation ---------------------------------------------------------------------------

    async def invoke(
        self, function: str, inputs: dict[str, Any], trigger_metadata: dict[str, Any] | None = None
    ) -> Any:
        """Invoke ``function`` with ``inputs`` (binding name → TypedData); returns the return value's
        TypedData. Raises ``InvocationFailed`` as the host would see the failure."""
        from azure_functions_runtime import handle_event

        p = self.protos
        info = self.functions[function]
        request = p.StreamingMessage(
            request_id=str(uuid.uuid4()),
            invocation_request=p.InvocationRequest(
                invocation_id=str(uuid.uuid4()),
                function_id=info.function_id,
                input_data=[p.ParameterBinding(name=name, data=data) for name, data in inputs.items()],
                trigger_metadata=trigger_metadata or {},
                trace_context=p.RpcTraceContext(trace_parent="", trace_state="", attributes={}),
                retry_context=p.RetryContext(retry_count=0, max_retry_count=0),
            ),
        )
        response = await handle_event.invocation_request(_Message(request))
        if response.result.status != p.StatusResult.Success:
            raise InvocationFailed(function, response.result.exception.message, response.result.exception.stack_trace)
        return response.return_value

    def typed_json(self, text: str) -> Any:
        return self.protos.TypedData(json=text)

    def typed_string(self, text: str) -> Any:
        return self.protos.TypedData(string=text)

    @staticmethod
    def text_of(value: Any) -> str | None:
        """The JSON text a TypedData return value carries (None when it carries nothing)."""
        kind = value.WhichOneof("data")
        if kind is None:
            return None
        if kind in ("json", "string"):
            return str(getattr(value, kind))
        raise ValueError(f"unexpected return value type {kind!r}")

    def trigger_binding_name(self, function: str) -> str:
        return str(self.functions[function].trigger["name"])

    async def invoke_activity(self, function: str, input_json: str | None) -> str:
        """As the Durable extension invokes an activity: its input is the JSON text the orchestrator
        scheduled; the result is the JSON text stored in history."""
        name = self.trigger_binding_name(function)
        value = await self.invoke(function, {name: self.typed_json(input_json if input_json is not None else "null")})
        return self.text_of(value) or "null"

    async def invoke_orchestrator(self, function: str, context_json: str) -> str:
        """As the Durable extension invokes an orchestrator: history and input in, actions and state out."""
        name = self.trigger_binding_name(function)
        value = await self.invoke(function, {name: self.typed_string(context_json)})
        text = self.text_of(value)
        if text is None:
            raise InvocationFailed(function, "the orchestrator returned nothing", "")
        return text

    async def invoke_timer(self, function: str, client_binding: dict[str, Any], past_due: bool = False) -> None:
        """As the host fires a timer trigger that has a durable client input binding."""
        info = self.functions[function]
        inputs: dict[str, Any] = {}
        for name, binding in info.bindings.items():
            if binding["type"] == "timerTrigger":
                timer = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": past_due}
                inputs[name] = self.typed_json(json.dumps(timer))
            elif binding["type"] == "durableClient":
                inputs[name] = self.typed_string(json.dumps(client_binding))
        await self.invoke(function, inputs)
