"""A vendor simulator in a process of its own, driven by calls over a pipe.

The benchmark uses it so the vendor's work (parsing a million contacts' JSON, keeping its lists) runs
where a real vendor's does: not on the worker's cores and not under the worker's GIL. Tests keep the
in-thread simulator, whose state they read directly.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import traceback
from typing import Any

# "spawn": a fresh interpreter, so the child inherits none of the parent's threads or open sockets.
_CONTEXT = multiprocessing.get_context("spawn")


def _serve(vendor: str, options: dict[str, Any], conn: multiprocessing.connection.Connection) -> None:
    from simulators import simulator_class

    simulator = simulator_class(vendor)(**options)
    simulator.freeze_after_jobs = True  # this process is the simulator's alone (see ``BaseSimulator._job_step``)
    simulator.start()
    conn.send(("ok", (simulator.url, simulator.api_key)))
    while True:
        try:
            name, args, kwargs = conn.recv()
        except EOFError:
            break
        if name == "stop":
            break
        try:
            member = getattr(simulator, name)
            result = member(*args, **kwargs) if callable(member) else member
            conn.send(("ok", result))
        except Exception as exc:  # handed back to the caller, who raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    simulator.stop()


class RemoteSimulator:
    """The same calls as a simulator (``create_target``, ``members``, ``reset_log``, …), answered by one
    running in a child process; ``url`` and ``api_key`` are known once started."""

    def __init__(self, vendor: str, **options: Any) -> None:
        self.vendor = vendor
        self._options = options
        self._conn: multiprocessing.connection.Connection | None = None
        self._process: Any = None
        self.url = ""
        self.api_key = ""

    def start(self) -> str:
        parent, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(
            target=_serve, args=(self.vendor, self._options, child), name=f"{self.vendor}-simulator", daemon=True
        )
        self._process.start()
        self._conn = parent
        if not parent.poll(60):
            raise RuntimeError(f"the {self.vendor} simulator process did not start within 60 s")
        self.url, self.api_key = self._answer()
        return self.url

    @property
    def pid(self) -> int | None:
        """The simulator process's id once started (what measures its CPU, as a vendor's own servers')."""
        return self._process.pid if self._process is not None else None

    def _answer(self) -> Any:
        assert self._conn is not None
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"{self.vendor} simulator: {value}")
        return value

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._conn is None:
            raise RuntimeError(f"the {self.vendor} simulator process is not running")
        self._conn.send((name, args, kwargs))
        return self._answer()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(("stop", (), {}))
            except (BrokenPipeError, OSError):
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.terminate()
            self._process = None
