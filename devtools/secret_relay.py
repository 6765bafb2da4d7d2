"""The host process's secret store, reachable from the worker pool's processes.

In Azure every worker process reaches Key Vault over the network. Locally the vault is the in-memory
Key Vault stand-in inside the host process (``devtools.local_env``), which a pool process cannot see; this
relay serves that store's ``get``/``set``/``delete`` on a loopback ``multiprocessing.connection``
listener (HMAC-authenticated with a random key), and ``RelayedSecretStore`` is the pool process's side.
Every call is live, so a credential rotated after the pool started is the one a pool process reads.
Values travel pickled over the local socket; nothing here logs them.
"""

from __future__ import annotations

import secrets
import threading
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from pydantic import SecretStr

from shared.secrets import SecretStore

METHODS = frozenset({"get", "set", "delete"})


class SecretRelay:
    """Serves ``store`` to pool processes until ``close``; give them ``address`` and ``authkey``."""

    def __init__(self, store: SecretStore) -> None:
        self.store = store
        self.authkey = secrets.token_bytes(32)
        self._listener = Listener(("127.0.0.1", 0), authkey=self.authkey)
        self.address: tuple[str, int] = self._listener.address
        self._closed = threading.Event()
        self._accepting = threading.Thread(target=self._accept, name="secret-relay", daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except OSError:  # a client that failed the handshake, or the listener closing
                continue
            if self._closed.is_set():
                connection.close()
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    method, args = connection.recv()
                except (EOFError, OSError):
                    return  # the pool process exited
                if method not in METHODS:
                    connection.send((False, ValueError(f"unknown secret store method {method!r}")))
                    continue
                try:
                    connection.send((True, getattr(self.store, method)(*args)))
                except Exception as exc:
                    connection.send((False, exc))

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        # A thread blocked in accept() does not wake when its socket closes: connect once to wake it.
        try:
            Client(self.address, authkey=self.authkey).close()
        except OSError:
            pass
        self._accepting.join(timeout=5)
        self._listener.close()


class RelayedSecretStore:
    """A ``SecretStore`` whose calls are answered by a ``SecretRelay`` in the host process."""

    def __init__(self, address: tuple[str, int], authkey: bytes) -> None:
        self._connection = Client(address, authkey=authkey)
        self._lock = threading.Lock()  # one request/response exchange at a time on the connection

    def _call(self, method: str, *args: Any) -> Any:
        with self._lock:
            self._connection.send((method, args))
            ok, value = self._connection.recv()
        if not ok:
            raise value
        return value

    def get(self, name: str) -> SecretStr:
        value: SecretStr = self._call("get", name)
        return value

    def set(self, name: str, value: SecretStr) -> None:
        self._call("set", name, value)

    def delete(self, name: str) -> None:
        self._call("delete", name)
