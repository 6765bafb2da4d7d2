"""Plain words out of the exception the Durable SDK raises in the orchestrator when an activity failed.

The Durable extension reports a failed Python activity as a ``TaskFailed`` event whose reason is
``Activity function '<name>' failed: <the host's RpcException message>`` — and that message is the
host's ``Result: Failure\\nException: <Type>: <message>\\nStack: <stack>`` — with the serialized cause
as details. The SDK raises ``Exception(f"{reason} \\n {details}")``. A run report wants only the
activity's own message, so this module digs it out (and keeps the exception type when it is not one
of ours, so "KeyError: 'x'" still says what happened).
"""

from __future__ import annotations

import re

from shared import errors

_PREFIX = re.compile(r"^Activity function '(?P<name>[^']+)' failed: ", re.S)
_EXCEPTION_LINE = re.compile(r"(?:^|\n)Exception: (?P<text>.*?)(?:\nStack:|\n \{|\Z)", re.S)
_TYPED = re.compile(r"^(?P<type>[A-Za-z_][A-Za-z0-9_.]*): (?P<message>.*)$", re.S)
_OURS = {name for name in dir(errors) if isinstance(getattr(errors, name), type)}


def activity_name(exc: BaseException) -> str | None:
    """The failed activity's name, when the exception is an activity failure."""
    match = _PREFIX.match(str(exc))
    return match.group("name") if match else None


def plain_reason(exc: BaseException) -> str:
    """The activity's own error message, in plain words, without the host's wrapping or stack."""
    text = str(exc).strip()
    body = _PREFIX.sub("", text, count=1)
    found = _EXCEPTION_LINE.search(body)
    message = found.group("text").strip() if found else body.split("\n")[0].strip()
    typed = _TYPED.match(message)
    if typed and typed.group("type").rsplit(".", 1)[-1] in _OURS:
        message = typed.group("message").strip()
    return message or type(exc).__name__
