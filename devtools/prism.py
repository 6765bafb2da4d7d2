"""The vendors' official specs as a live check: Stoplight Prism (``prism proxy --errors``) in front of a
simulator (or any loopback server), validating every request and every response against the spec.

Prism mounts a spec's paths without its server's base path (``https://api.brevo.com/v3`` → ``/contacts``),
so each vendor's spec is first *merged*: the base path folded into the paths, several files of one vendor
joined, the paths the product and its tests use kept with every component they reference, and the few
documented corrections applied (each named in ``PATCHES`` with its source). The merged spec is written to
a temporary directory; nothing is fetched: the specs come from ``vendor_specs/``.

Violations are counted from Prism's log. With ``--errors`` a request that violates the spec is refused by
Prism (``…/errors#UNPROCESSABLE_ENTITY``, 422, or ``#UNAUTHORIZED``) before it reaches the simulator, and a
response that violates it is replaced by a 500 problem (``…/errors#VIOLATIONS``) whose ``validation`` array
names each violation; both are logged as "Request terminated with error". Violations below error severity
are logged as ``Violation: …`` lines (and sent back in the ``sl-violations`` header).

    with PrismProxy("sendgrid", upstream=sim.url) as prism:
        httpx.get(prism.url + "/v3/scopes", headers=...)
        assert prism.violations() == []

Runs ``node_modules/.bin/prism`` (npm ``@stoplight/prism-cli`` 5.16.0, installed with ``npm ci``) on a free
127.0.0.1 port; stopped (and waited for) on exit.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "vendor_specs"
PRISM = ROOT / "node_modules" / ".bin" / "prism"


@dataclass(frozen=True, slots=True)
class VendorSpec:
    files: tuple[str, ...]  # under vendor_specs/
    base_path: str  # the server base path Prism would ignore, folded into the paths
    paths: tuple[str, ...]  # the spec paths kept (without the base path)


VENDORS: dict[str, VendorSpec] = {
    "sendgrid": VendorSpec(
        (
            "sendgrid/tsg_mc_contacts_v3.json",
            "sendgrid/tsg_mc_lists_v3.json",
            "sendgrid/tsg_mc_custom_fields_v3.json",
        ),
        "",  # servers: https://api.sendgrid.com, the paths carry /v3 themselves
        (
            "/v3/marketing/contacts",
            "/v3/marketing/contacts/{id}",
            "/v3/marketing/contacts/count",
            "/v3/marketing/contacts/imports/{id}",
            "/v3/marketing/contacts/search/emails",
            "/v3/marketing/lists/{id}",
            "/v3/marketing/lists/{id}/contacts",
            "/v3/marketing/lists/{id}/contacts/count",
            "/v3/marketing/field_definitions",
        ),
    ),
    "brevo": VendorSpec(
        ("brevo/swagger_definition_v3.yml",),
        "/v3",  # servers: https://api.brevo.com/v3
        (
            "/account",
            "/contacts",
            "/contacts/{identifier}",
            "/contacts/attributes",
            "/contacts/import",
            "/contacts/lists/{listId}",
            "/contacts/lists/{listId}/contacts",
            "/contacts/lists/{listId}/contacts/remove",
            "/processes/{processId}",
        ),
    ),
    "omnisend": VendorSpec(
        ("omnisend/omnisend-contacts-api-2026-03-15.json", "omnisend/omnisend-batches-api-2026-03-15.json"),
        "/api",  # servers: https://api.omnisend.com/api
        (
            "/contacts",
            "/contacts/{id}",
            "/contacts/tags",
            "/batches",
            "/batches/{batchID}",
            "/batches/{batchID}/items",
        ),
    ),
}

# Documented corrections of a copied spec: (vendor, JSON pointer inside the merged spec, new value, source).
PATCHES: tuple[tuple[str, str, Any, str], ...] = (
    (
        "brevo",
        "/components/schemas/getProcess/properties/status/enum",
        ["queued", "in_process", "processing", "completed", "failed", "cancelled"],
        "the Feb-2025 spec lists queued|in_process|completed; Brevo's 2026 Fern SDK (brevo-python 5.x, "
        "brevo/process/types/get_process_response_status.py) adds processing, failed and cancelled",
    ),
)

# Answers every endpoint of a vendor can give, documented once for the whole API rather than per operation
# in the copied specs: added to each operation that does not declare them. (vendor → status → (schema, source))
_SENDGRID_ERRORS = {"type": "object", "required": ["errors"], "properties": {"errors": {"type": "array"}}}
_BREVO_ERROR = {"type": "object", "required": ["code", "message"]}
_PROBLEM = {"type": "object", "required": ["title", "status"], "properties": {"status": {"type": "integer"}}}
_OMNISEND_RATE = {
    "type": "object",
    "required": ["retryAfter"],
    "properties": {"retryAfter": {"type": "integer"}, "status": {"type": "integer"}},
}
SHARED_RESPONSES: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "sendgrid": {
        "401": (_SENDGRID_ERRORS, "ErrorResponse for 401/403/404 (vendors.md §2.4)"),
        "429": (_SENDGRID_ERRORS, "rate limits page: 429 with errors[] (vendors.md §2.3)"),
        "5XX": (_SENDGRID_ERRORS, "MarketingContacts500 of the contacts spec"),
    },
    "brevo": {
        "401": (_BREVO_ERROR, "spec info status table: 401 Authentication Needed; errorModel"),
        "429": (_BREVO_ERROR, "https://developers.brevo.com/docs/api-limits: 429 when exceeded"),
        "5XX": (_BREVO_ERROR, "errorModel"),
    },
    "omnisend": {
        "401": (_PROBLEM, "Problem: 'Authentication is missing or invalid' (contacts spec)"),
        "429": (_OMNISEND_RATE, "RateLimitProblem (contacts spec), rate limits of the batches spec"),
        "5XX": (_PROBLEM, "Problem: 500 'Internal server error' (both specs)"),
    },
}

VIOLATION = re.compile(r"(Violation: .*|Request terminated with error: \S+#[A-Z_]+.*)")
RESPONSE_ERRORS = ("#VIOLATIONS",)


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    # libyaml's loader when built in: the Brevo spec (864 KB) takes seconds with the pure-Python one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=loader)  # noqa: S506
    # YAML timestamps in examples are not JSON: keep them as the strings they were written as.
    result: dict[str, Any] = json.loads(json.dumps(loaded, default=str))
    return result


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _pointer(document: Mapping[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def merged_spec(vendor: str) -> dict[str, Any]:
    """One OpenAPI document for ``vendor``: kept paths with the base path folded in, only the components
    they reach, the documented patches applied."""
    spec = VENDORS[vendor]
    documents = [_load(SPECS / name) for name in spec.files]
    merged: dict[str, Any] = {
        "openapi": documents[0]["openapi"],
        "info": documents[0]["info"],
        "servers": [{"url": "http://127.0.0.1"}],
        "paths": {},
        "components": {},
    }
    everything: dict[str, Any] = {"components": {}}
    for document in documents:
        for section, entries in document.get("components", {}).items():
            everything["components"].setdefault(section, {})
            for name, value in entries.items():
                everything["components"][section].setdefault(name, value)
        for path, item in document.get("paths", {}).items():
            if path in spec.paths:
                merged["paths"][spec.base_path + path] = copy.deepcopy(item)
        if "security" in document:
            merged.setdefault("security", document["security"])
    missing = set(spec.paths) - {p.removeprefix(spec.base_path) for p in merged["paths"]}
    if missing:
        raise ValueError(f"{vendor}: paths not in the spec files: {sorted(missing)}")
    # Keep only the components the kept paths reach (the Brevo spec is 864 KB; Prism starts faster).
    pending = list(_refs(merged["paths"])) + list(_refs(merged.get("security", [])))
    for schemes in everything["components"].get("securitySchemes", {}):
        pending.append(f"#/components/securitySchemes/{schemes}")
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, section, name = ref.lstrip("#/").split("/", 2)
        value = everything["components"][section][name.split("/")[0]]
        merged["components"].setdefault(section, {})[name.split("/")[0]] = value
        pending.extend(_refs(value))
    for item in merged["paths"].values():
        for method, operation in item.items():
            if method in ("get", "put", "post", "patch", "delete") and isinstance(operation, dict):
                responses = operation.setdefault("responses", {})
                for status, (schema, _source) in SHARED_RESPONSES.get(vendor, {}).items():
                    if status not in responses:
                        responses[status] = {
                            "description": _source,
                            "content": {
                                "application/json": {"schema": schema},
                                "application/problem+json": {"schema": schema},
                            },
                        }
    for patched_vendor, pointer, value, _source in PATCHES:
        if patched_vendor == vendor:
            *parents, last = pointer.lstrip("/").split("/")
            node = merged
            for part in parents:
                node = node[part]
            node[last] = value
    return merged


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PrismProxy:
    """``prism proxy --errors`` for one vendor's merged spec in front of ``upstream`` (a loopback URL)."""

    def __init__(self, vendor: str, upstream: str, *, start_timeout: float = 60.0) -> None:
        if not upstream.startswith(("http://127.0.0.1", "http://localhost")):
            raise ValueError("Prism only fronts loopback servers here")
        self.vendor = vendor
        self.upstream = upstream
        self.start_timeout = start_timeout
        self.url = ""
        self.log: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> str:
        if not PRISM.exists():
            raise RuntimeError(f"{PRISM} is missing: run `npm ci` (package.json pins @stoplight/prism-cli)")
        self._dir = tempfile.TemporaryDirectory(prefix=f"prism-{self.vendor}-")
        spec_path = Path(self._dir.name) / f"{self.vendor}.json"
        spec_path.write_text(json.dumps(merged_spec(self.vendor)), encoding="utf-8")
        port = free_port()
        command = [str(PRISM), "proxy", str(spec_path), self.upstream, "--errors", "-h", "127.0.0.1", "-p", str(port)]
        self._process = subprocess.Popen(  # noqa: S603 - a fixed local binary, arguments built here
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
        )
        ready = threading.Event()

        def read() -> None:
            assert self._process is not None and self._process.stdout is not None
            for line in self._process.stdout:
                self.log.append(line.rstrip("\n"))
                if "Prism is listening" in line:
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, name=f"prism-{self.vendor}", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.1):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Prism did not start within {self.start_timeout} s: {self.log[-5:]}")
        if self._process.poll() is not None:
            raise RuntimeError(f"Prism exited: {self.log[-10:]}")
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def violations(self) -> list[str]:
        """Every violation Prism logged so far: one line per refused request or replaced response, and one
        per lesser violation."""
        time.sleep(0.1)  # the log line follows the answer by a moment
        return [m.group(1) for line in list(self.log) if (m := VIOLATION.search(line))]

    def response_violations(self) -> list[str]:
        """Responses of the upstream that violate the spec."""
        return [
            v for v in self.violations() if any(e in v for e in RESPONSE_ERRORS) or v.startswith("Violation: response")
        ]

    def request_violations(self) -> list[str]:
        """Requests that violate the spec (refused before they reached the upstream)."""
        return [v for v in self.violations() if v not in self.response_violations()]

    def requests_served(self) -> int:
        """Requests Prism received (a test can assert its traffic really went through the proxy)."""
        return sum("Request received" in line for line in list(self.log))

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            if self._reader is not None:
                self._reader.join(5)
                self._reader = None
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> PrismProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """``python -m devtools.prism VENDOR``: write the merged spec of VENDOR to stdout."""
    import sys

    print(json.dumps(merged_spec(sys.argv[1]), indent=1))


if __name__ == "__main__":
    main()
