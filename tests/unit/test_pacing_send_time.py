"""The pacer counts a request from when its headers are written, not from when it was released.

A vendor counts a request when it arrives. Between the pacer releasing a request and its headers leaving
lie a new connection's handshake and any wait for the event loop; counted from the release, a request
that went out late and the next one, on time, reached the vendor closer together than the window allows
(a 1M SendGrid export drew 429s that way). These tests drive ``PacedTransport`` with an inner transport
that reports, through httpcore's ``trace`` extension, when it "wrote" the headers — and once with httpx's
real transport against a loopback server, so the event the pacer listens for is the one httpcore sends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from destinations.base import RateLimit, VendorLimits
from shared.pipeline.pacing import PacedTransport

WINDOW = 0.2  # one request per 0.2 s (plus the pacer's margins)
LIMITS = VendorLimits(upsert_batch_items=1, remove_batch_items=1, rate_limits={"default": (RateLimit(1, WINDOW),)})
HEADERS_WRITTEN = "http11.send_request_headers.complete"

Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


class LateSender(httpx.AsyncBaseTransport):
    """Writes each request's headers ``delays[i]`` seconds after it is handed the i-th request (reported
    through the ``trace`` extension unless ``report`` is False); records when it was handed each one."""

    def __init__(self, delays: list[float], *, report: bool = True) -> None:
        self.delays = delays
        self.report = report
        self.handed: list[float] = []
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.handed.append(time.monotonic())
        await asyncio.sleep(self.delays[len(self.handed) - 1])
        self.sent.append(time.monotonic())
        trace: Trace | None = request.extensions.get("trace")
        if self.report and trace is not None:
            await trace(HEADERS_WRITTEN, {})
        return httpx.Response(200, request=request)


def paced(inner: httpx.AsyncBaseTransport) -> PacedTransport:
    return PacedTransport(inner, LIMITS, lambda _m, _p: "default")


def spacing() -> float:
    """The pacer's window for ``LIMITS``: the limit's plus its margins."""
    return paced(LateSender([])).windows["default"][0].seconds


async def send_two(inner: httpx.AsyncBaseTransport) -> None:
    async with httpx.AsyncClient(transport=paced(inner), base_url="http://vendor.test") as client:
        await asyncio.gather(client.get("/a"), client.get("/b"))


async def test_a_request_written_late_holds_its_place_from_when_it_was_written() -> None:
    inner = LateSender([0.15, 0.0])
    await send_two(inner)
    window = spacing()
    # The second is released a whole window after the first was *written* (0.15 s after its release),
    # so it reaches the vendor a window after the first does.
    assert inner.sent[1] - inner.sent[0] >= window - 0.01, (inner.handed, inner.sent)
    assert inner.handed[1] - inner.handed[0] >= 0.15 + window - 0.01


async def test_a_request_held_up_longer_than_a_window_still_counts_when_it_goes() -> None:
    # Written 0.5 s after its release (2.5 windows): the next request may not go in the meantime.
    inner = LateSender([0.5, 0.0])
    await send_two(inner)
    assert inner.sent[1] - inner.sent[0] >= spacing() - 0.01, (inner.handed, inner.sent)


async def test_without_the_trace_extension_the_release_time_counts() -> None:
    # A transport that never reports (a test double, a mounted app): each request counts from its release,
    # as before, once it has been answered.
    inner = LateSender([0.0, 0.0], report=False)
    await send_two(inner)
    gap = inner.handed[1] - inner.handed[0]
    assert spacing() - 0.01 <= gap < spacing() + 0.1, inner.handed


async def test_httpx_reports_the_headers_written_event_the_pacer_listens_for() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    seen: list[tuple[str, float]] = []

    async def chained(name: str, info: dict[str, Any]) -> None:
        seen.append((name, time.monotonic()))

    transport = paced(httpx.AsyncHTTPTransport())
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(f"http://127.0.0.1:{port}/", extensions={"trace": chained})
            assert response.text == "ok"
    finally:
        server.close()
        await server.wait_closed()
    names = [name for name, _ in seen]
    assert HEADERS_WRITTEN in names, names  # the caller's own trace still runs, after the pacer's
    (stamp,) = transport.windows["default"][0].stamps
    assert not stamp.pending
    written = dict(seen)[HEADERS_WRITTEN]
    assert abs(stamp.at - written) < 0.05  # moved to when the headers went, not left at the release
    assert stamp.at >= dict(seen)["connection.connect_tcp.started"]
