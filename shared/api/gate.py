"""The ASGI layer in front of every route: size limits, authentication, and no unhandled error.

Authentication runs here, before FastAPI parses anything, so an anonymous caller gets 401 whatever
the body or path holds (a FastAPI dependency would answer 422 for a malformed body first). The body
is read whole — it is at most ``MAX_BODY_BYTES`` — and replayed to the app.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api.context import ApiContext
from shared.api.problems import ApiProblem, problem_response
from shared.api.settings import MAX_BODY_BYTES, MAX_QUERY_BYTES

LOG = logging.getLogger("segment_export.api")
PUBLIC = {"/api/health"}
MAX_PATH = 1024


class Gate:
    def __init__(self, app: ASGIApp, context: ApiContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._handle(scope, receive, tracking_send)
        except ApiProblem as problem:
            if not started:
                response = problem_response(
                    problem.status, problem.detail, field=problem.field, headers=problem.headers, instance=scope["path"]
                )
                await response(scope, receive, send)
        except Exception as exc:
            # The type only: an exception's text could carry anything.
            LOG.error("unexpected %s on %s %s", type(exc).__name__, scope.get("method"), scope.get("path"))
            if not started:
                await problem_response(500, "the request could not be completed")(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path") or ""
        if len(path) > MAX_PATH:
            raise ApiProblem(414, f"the path is longer than {MAX_PATH} characters", field="path")
        if len(scope.get("query_string") or b"") > MAX_QUERY_BYTES:
            limit = MAX_QUERY_BYTES
            raise ApiProblem(414, f"the query string is longer than {limit} bytes", field="query")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        limit = MAX_BODY_BYTES
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise ApiProblem(413, f"the body is larger than {limit} bytes", field="body")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                raise ApiProblem(413, f"the body is larger than {limit} bytes", field="body")
            if not message.get("more_body", False):
                break
        if path not in PUBLIC:
            principal = await self.context.verifier.verify(headers.get("authorization"))
            state: dict[str, Any] = dict(scope.get("state") or {})
            state["principal"] = principal
            scope = {**scope, "state": state}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
