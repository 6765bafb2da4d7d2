"""HTTP plumbing shared by the adapters: one request helper, one status → error mapping, the vendors'
retry hints, and the scrubbing of any vendor text of the connection's credential.

Vendors differ in how they *say* things (bodies, rate headers); they agree on what status codes
mean, so that part lives here once. Messages name the vendor, the connection and the target, never a
credential: every piece of vendor text that may be stored, logged or raised passes through ``scrub``.
Retrying is not done here: the pipeline retries ``RetryableDestinationError`` (``shared.pipeline.pacing``,
through tenacity) after the hint parsed here.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from shared import telemetry
from shared.errors import (
    CredentialRefused,
    RateLimited,
    RequestRejected,
    TargetNotFound,
    VendorUnavailable,
)

RetryAfterParser = Callable[[httpx.Response], float | None]

log = logging.getLogger("segment_export.vendor")

REDACTED = "[credential]"
# Shorter strings are not credentials worth searching for, and replacing them would mangle text.
MIN_SECRET_LENGTH = 6


def scrub(text: str, secret: str | Iterable[str]) -> str:
    """``text`` with every occurrence of the credential (or of each of several forms of it) replaced.

    Vendors echo request data in error bodies, and an echoed header or key must never reach a
    log, a blob or an exception message."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    for value in sorted(secrets, key=len, reverse=True):
        if value and len(value) >= MIN_SECRET_LENGTH and value in text:
            text = text.replace(value, REDACTED)
    return text


def retry_after_header(response: httpx.Response) -> float | None:
    """Seconds from a standard ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def reset_header(name: str, *, epoch: bool) -> RetryAfterParser:
    """A parser for an ``X-RateLimit-Reset``-style header: seconds left, or an epoch timestamp.
    Falls back to ``Retry-After`` when the header is absent."""

    def parse(response: httpx.Response) -> float | None:
        value = response.headers.get(name)
        if value is None:
            return retry_after_header(response)
        try:
            number = float(value)
        except ValueError:
            return retry_after_header(response)
        return max(0.0, number - time.time()) if epoch else max(0.0, number)

    return parse


def vendor_message(response: httpx.Response, limit: int = 300) -> str:
    """A short, printable excerpt of a vendor's error body (unscrubbed: callers scrub it)."""
    text = response.text.strip().replace("\n", " ")
    return text[:limit] if text else f"HTTP {response.status_code}"


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    vendor: str,
    display_name: str,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; transport failures (timeouts, resets) become ``VendorUnavailable``. Every
    answer is counted per vendor and status (429s apart) in the run's metrics."""
    try:
        response = await client.request(method, url, **kwargs)
        telemetry.record_vendor_request(vendor, response.status_code)
        return response
    except httpx.TimeoutException as exc:
        telemetry.record_vendor_request(vendor, "timeout")
        raise VendorUnavailable(f"{display_name} did not answer in time", vendor=vendor) from exc
    except httpx.TransportError as exc:
        telemetry.record_vendor_request(vendor, "connection_error")
        raise VendorUnavailable(
            f"the connection to {display_name} failed ({type(exc).__name__})", vendor=vendor
        ) from exc


class VendorHttp:
    """One vendor account over HTTP: the base URL, the credential's headers (applied here and nowhere
    else), the vendor's way of saying when to retry, and the connection the credential belongs to
    (named in every refusal, with the fix). Adapters speak to their vendor through it."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        headers: dict[str, str],
        vendor: str,
        display_name: str,
        target: str,
        retry_after: RetryAfterParser = retry_after_header,
        connection: str | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.vendor = vendor
        self.display_name = display_name
        self.target = target
        self.retry_after = retry_after
        self.connection = connection or display_name
        # Every form the credential takes on the wire: the raw secret and each header carrying it.
        self._secrets = tuple(s for s in secrets if s)
        # How one request of a many-request read is retried (the pipeline sets its retry policy here):
        # a 429 on page 500 of a paged read retries that page, not the read from page 1. None: no retry.
        self.retry: Callable[[Callable[[], Awaitable[httpx.Response]]], Awaitable[httpx.Response]] | None = None

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The raw answer (for callers that treat some statuses as success). ``path`` may be a full URL."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        return await send(
            self.client, method, url, vendor=self.vendor, display_name=self.display_name, headers=self.headers, **kwargs
        )

    def check(self, response: httpx.Response, target: str | None = None) -> None:
        """Map a non-success answer to the error vocabulary of ``shared.errors``, naming ``target``
        (default: the export's list).

        Raises CredentialRefused (401/403), TargetNotFound (404), RateLimited (429),
        VendorUnavailable (5xx), RequestRejected (other 4xx)."""
        status = response.status_code
        if status < 400:
            return
        name, vendor = self.display_name, self.vendor
        if status in (401, 403):
            raise CredentialRefused(
                f"{name} refused the credential of connection {self.connection!r} (HTTP {status}): "
                f"update the credential of connection {self.connection!r} (a new API key or a new sign-in)",
                vendor=vendor,
                status=status,
            )
        if status == 404:
            raise TargetNotFound(
                f"{target or self.target} does not exist in the {name} account", vendor=vendor, status=404
            )
        if status == 429:
            hint = self.retry_after(response)
            log.warning(
                "%s answered HTTP 429 (rate limited); its hint: retry after %s s",
                name,
                "none" if hint is None else f"{hint:g}",
                extra={"vendor": vendor, "status": status, "retry_after": hint},
            )
            raise RateLimited(
                f"{name} asked us to slow down (HTTP 429)", vendor=vendor, status=status, retry_after=hint
            )
        if status >= 500:
            hint = self.retry_after(response)
            raise VendorUnavailable(f"{name} answered HTTP {status}", vendor=vendor, status=status, retry_after=hint)
        raise RequestRejected(
            f"{name} refused the request (HTTP {status}): {self.scrub(vendor_message(response))}",
            vendor=vendor,
            status=status,
        )

    def json(self, response: httpx.Response, *keys: str) -> Any:
        """The answer's JSON (``keys``: the value under them). An answer that cannot be read — not JSON, cut
        short, without the documented member — raises VendorUnavailable: it is retried, never guessed at."""
        try:
            value = response.json()
            for key in keys:
                value = value[key]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            what = f" (no {'.'.join(keys)})" if keys else ""
            raise VendorUnavailable(
                f"{self.display_name} sent an answer that could not be read{what} (HTTP {response.status_code})",
                vendor=self.vendor,
                status=response.status_code,
            ) from exc
        return value

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send and raise on any non-success (see ``check``)."""
        response = await self.send(method, path, **kwargs)
        self.check(response)
        return response

    async def call_retrying(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``call``, retried on its own by ``retry`` when set: for one page of a paged read."""
        if self.retry is None:
            return await self.call(method, path, **kwargs)
        return await self.retry(lambda: self.call(method, path, **kwargs))
