"""Validate recorded simulator requests against a vendor's official OpenAPI documents (openapi-core).

The simulator records every request an adapter sends; each one is checked against the operation the
official spec declares for its method and path (body schema, required query parameters). Requests to
operations a spec does not cover are returned, so a test can say exactly which ones were unchecked.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathNotFound, PathsNotFound, ServerNotFound
from openapi_core.validation.request.exceptions import InvalidRequestBody
from werkzeug.datastructures import Headers, ImmutableMultiDict

from simulators.base import RecordedRequest

SPECS = Path(__file__).resolve().parents[2] / "vendor_specs"


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    query: dict[str, str]
    headers: dict[str, str]
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(self.query.items())),
            header=Headers(list(self.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path + ("?" + urlencode(self.query) if self.query else "")


class SpecValidator:
    def __init__(self, files: Iterable[str], *, path_prefix: str = "") -> None:
        """``files`` are relative to vendor_specs/; ``path_prefix`` is prepended to recorded paths
        when the spec's server URL carries part of the path (Brevo's ``/v3``)."""
        self.apis: list[tuple[OpenAPI, str]] = []
        for name in files:
            api = OpenAPI.from_file_path(str(SPECS / name))
            servers: Any = api.spec / "servers"
            url = next(iter(servers))["url"] if "servers" in api.spec else "http://localhost"
            self.apis.append((api, str(url).rstrip("/")))
        self.path_prefix = path_prefix
        self.ambiguous: list[tuple[str, str]] = []  # requests valid under every branch of a oneOf

    def validate(self, requests: Sequence[RecordedRequest]) -> list[RecordedRequest]:
        """Raise the first validation error; return the requests no spec covers."""
        unchecked = []
        for recorded in requests:
            if not self._validate_one(recorded):
                unchecked.append(recorded)
        return unchecked

    def _validate_one(self, recorded: RecordedRequest) -> bool:
        for api, server in self.apis:
            host = server
            path = recorded.path
            # A server URL with a path part (https://api.brevo.com/v3): the request path keeps it.
            scheme_host = "/".join(server.split("/")[:3])
            server_path = server[len(scheme_host) :]
            if server_path and path.startswith(server_path):
                host = scheme_host
            request = _Request(
                host_url=host,
                path=path,
                method=recorded.method.lower(),
                body=recorded.body or None,
                content_type=recorded.headers.get("content-type", "application/json"),
                query=recorded.query,
                headers=recorded.headers,
            )
            try:
                with warnings.catch_warnings():
                    # Omnisend's batches spec also offers OAuth client credentials, which openapi-core
                    # cannot check; the API-key alternative is still validated.
                    warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
                    api.validate_request(request)
            except (PathNotFound, PathsNotFound, ServerNotFound):
                continue
            except InvalidRequestBody as exc:
                # Brevo's list-edit schema is a oneOf of branches without ``required``: every object
                # matches all of them and strict oneOf fails. Matching *each* branch is conformance to
                # the spec's intent; any other body error is real.
                if "is valid under each of" not in str(exc.__cause__):
                    raise
                self.ambiguous.append((recorded.method, recorded.path))
            return True
        return False
