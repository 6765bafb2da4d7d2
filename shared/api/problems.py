"""RFC 9457 problem documents: every error the API answers is one, naming the field at fault."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

LOG = logging.getLogger("segment_export.api")
PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    414: "URI too long",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class FieldProblem(BaseModel):
    field: str = Field(description="where: body.field_mapping.email, query.limit, header.If-Match, path.export_id")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = Field(None, description="the first field at fault, when one is")
    errors: list[FieldProblem] = Field(default_factory=list)
    active_run: str | None = Field(None, description="409 on a run: the link of the run still going")


class ApiProblem(Exception):
    """Raised by routes; rendered as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    detail: str,
    *,
    field: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[FieldProblem] | None = None,
    **extra: Any,
) -> JSONResponse:
    problem = Problem(
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=instance,
        field=field,
        errors=errors or ([FieldProblem(field=field, message=detail)] if field else []),
        **extra,
    )
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _message(error: dict[str, Any]) -> str:
    # pydantic messages never quote a secret's value: SecretStr inputs are not echoed, and we drop
    # the ``input`` member of every error.
    return str(error.get("msg", "invalid value"))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, field=exc.field, instance=request.url.path, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldProblem(field=_location(e.get("loc", ())), message=_message(e)) for e in exc.errors()][:20]
        first = errors[0] if errors else FieldProblem(field="body", message="invalid request")
        return problem_response(
            422, f"{first.field}: {first.message}", field=first.field, instance=request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem answers (the content type is fixed up in ``app.openapi``)."""
    return {status: {"model": Problem, "description": TITLES.get(status, "Error")} for status in statuses}
