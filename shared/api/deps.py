"""Route dependencies: the context, the caller and their role, If-Match, path ids; blocking calls."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Header, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.api.auth import Principal, Unauthenticated
from shared.api.context import ApiContext
from shared.api.problems import ApiProblem
from shared.models import ID_PATTERN

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="A Microsoft Entra ID access token for this API")
ETAG = re.compile(r'^(W/)?"[\x21\x23-\x7e]{1,128}"$|^[\x21\x23-\x7e]{1,128}$')
RUN_REF = r"^(current|\d{8}T\d{6}-[0-9a-f]{8})$"

IdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=63, description="lower case letters, digits, dashes")]
RunRef = Annotated[str, Path(pattern=RUN_REF, max_length=40, description="a run id, or 'current'")]


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


def caller(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> Principal:
    """Set by the gate, which has already validated the token."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("a Microsoft Entra ID bearer token is required", error=None)
    return principal


def admin(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    if not principal.is_admin:
        raise ApiProblem(403, "this needs the Exports.Admin app role", field="header.Authorization")
    return principal


def reader(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    if not (principal.is_admin or principal.is_contributor):
        raise ApiProblem(
            403, "this needs the Exports.Admin or Exports.Contributor app role", field="header.Authorization"
        )
    return principal


def if_match(
    value: Annotated[
        str | None,
        Header(alias="If-Match", max_length=140, description="the ETag of the version you read (required)"),
    ] = None,
) -> str:
    if value is None:
        raise ApiProblem(428, "send If-Match with the ETag of the version you read", field="header.If-Match")
    value = value.strip()
    if value == "*" or not ETAG.match(value):
        raise ApiProblem(400, "If-Match must be the ETag of the version you read", field="header.If-Match")
    return value if value.startswith(('"', "W/")) else f'"{value}"'


Context = Annotated[ApiContext, Depends(get_context)]
Admin = Annotated[Principal, Depends(admin)]
Reader = Annotated[Principal, Depends(reader)]
IfMatch = Annotated[str, Depends(if_match)]


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking storage or Key Vault call off the event loop."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
