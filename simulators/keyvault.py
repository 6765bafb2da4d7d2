"""A Key Vault stand-in, passed to the real ``SecretClient`` as its azure-core ``transport``.

It speaks the Key Vault protocol the client depends on: the first, unauthenticated request gets a
401 bearer challenge naming the tenant and resource; the client then asks its credential for a
token for ``https://vault.azure.net/.default`` and repeats the call, which is served only when the
token is the one ``TestCredential`` issued. Used by the tests and, loudly labelled, by the demo.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport

CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", '
    'resource="https://vault.azure.net"'
)


class TestCredential:
    """Issues one fixed token; records the scopes it was asked for."""

    __test__ = False  # not a pytest class

    def __init__(self, token: str = "kv-standin-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


class _Response(HttpResponse):
    def __init__(self, request: HttpRequest, status: int, payload: Any = None, headers: dict[str, str] | None = None):
        super().__init__(request, None)
        self.status_code = status
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.reason = "OK" if status < 400 else "Error"
        self.content_type = self.headers["Content-Type"]
        self._body = json.dumps(payload).encode() if payload is not None else b""

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()

    def json(self) -> Any:
        return json.loads(self._body) if self._body else None

    def read(self) -> bytes:
        return self._body

    @property
    def content(self) -> bytes:
        return self._body


class KeyVaultStandIn(HttpTransport):
    """In-memory secrets behind the Key Vault REST protocol (set, get, delete, deleted-secret poll)."""

    def __init__(self, vault_url: str = "https://segment-export.vault.azure.net", token: str = "kv-standin-token"):
        self.vault_url = vault_url.rstrip("/")
        self.token = token
        self.secrets: dict[str, str] = {}
        self.deleted: set[str] = set()
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, authenticated)
        self._lock = threading.Lock()

    def __enter__(self) -> KeyVaultStandIn:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _bundle(self, name: str) -> dict[str, Any]:
        return {
            "value": self.secrets[name],
            "id": f"{self.vault_url}/secrets/{name}/0123456789abcdef",
            "attributes": {"enabled": True, "created": int(time.time()), "updated": int(time.time())},
        }

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        path = urlparse(request.url).path.rstrip("/")
        auth = request.headers.get("Authorization", "")
        authenticated = auth == f"Bearer {self.token}"
        with self._lock:
            self.requests.append((request.method, path, authenticated))
        if not authenticated:
            return _Response(request, 401, {"error": {"code": "Unauthorized"}}, {"WWW-Authenticate": CHALLENGE})
        parts = path.strip("/").split("/")
        with self._lock:
            if parts[0] == "secrets" and len(parts) >= 2:
                name = parts[1]
                if request.method == "PUT":
                    body = request.body if isinstance(request.body, bytes | str) else b"{}"
                    self.secrets[name] = json.loads(body)["value"]
                    self.deleted.discard(name)
                    return _Response(request, 200, self._bundle(name))
                if request.method == "GET":
                    if name not in self.secrets:
                        return _Response(request, 404, {"error": {"code": "SecretNotFound", "message": name}})
                    return _Response(request, 200, self._bundle(name))
                if request.method == "DELETE":
                    if name not in self.secrets:
                        return _Response(request, 404, {"error": {"code": "SecretNotFound", "message": name}})
                    bundle = self._bundle(name)
                    del self.secrets[name]
                    self.deleted.add(name)
                    bundle["recoveryId"] = f"{self.vault_url}/deletedsecrets/{name}"
                    return _Response(request, 200, bundle)
            if parts[0] == "deletedsecrets" and len(parts) >= 2 and request.method == "GET":
                name = parts[1]
                if name in self.deleted:
                    return _Response(request, 200, {"id": f"{self.vault_url}/secrets/{name}", "attributes": {}})
                return _Response(request, 404, {"error": {"code": "SecretNotFound"}})
        return _Response(request, 400, {"error": {"code": "BadParameter", "message": f"unsupported {path}"}})
