"""HTTP plumbing shared by the adapters: one request helper and one status → error mapping.

Vendors differ in how they *say* things (bodies, rate headers); they agree on what status codes
mean, so that part lives here once. Messages name the vendor and the target, never a credential.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx

from shared.errors import (
    CredentialRefused,
    RateLimited,
    RequestRejected,
    TargetNotFound,
    VendorUnavailable,
)

RetryAfterParser = Callable[[httpx.Response], float | None]


def retry_after_header(response: httpx.Response) -> float | None:
    """Seconds from a standard ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time())


def reset_header(name: str, *, epoch: bool) -> RetryAfterParser:
    """A parser for an ``X-RateLimit-Reset``-style header: seconds left, or an epoch timestamp."""

    def parse(response: httpx.Response) -> float | None:
        value = response.headers.get(name)
        if value is None:
            return retry_after_header(response)
        try:
            number = float(value)
        except ValueError:
            return None
        return max(0.0, number - time.time()) if epoch else max(0.0, number)

    return parse


def vendor_message(response: httpx.Response, limit: int = 300) -> str:
    """A short, printable excerpt of a vendor's error body (vendor bodies never echo our key)."""
    text = response.text.strip().replace("\n", " ")
    return text[:limit] if text else f"HTTP {response.status_code}"


def raise_for_status(
    response: httpx.Response,
    *,
    vendor: str,
    display_name: str,
    target: str,
    retry_after: RetryAfterParser = retry_after_header,
) -> None:
    """Map a non-success answer to the error vocabulary of ``shared.errors``.

    Raises CredentialRefused (401/403), TargetNotFound (404), RateLimited (429),
    VendorUnavailable (5xx), RequestRejected (other 4xx).
    """
    status = response.status_code
    if status < 400:
        return
    if status in (401, 403):
        raise CredentialRefused(
            f"the credential was refused by {display_name} (HTTP {status})", vendor=vendor, status=status
        )
    if status == 404:
        raise TargetNotFound(f"{target} does not exist in the {display_name} account", vendor=vendor, status=status)
    if status == 429:
        raise RateLimited(
            f"{display_name} asked us to slow down (HTTP 429)",
            vendor=vendor,
            status=status,
            retry_after=retry_after(response),
        )
    if status >= 500:
        raise VendorUnavailable(
            f"{display_name} answered HTTP {status}", vendor=vendor, status=status, retry_after=retry_after(response)
        )
    raise RequestRejected(
        f"{display_name} refused the request (HTTP {status}): {vendor_message(response)}", vendor=vendor, status=status
    )


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    vendor: str,
    display_name: str,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; transport failures (timeouts, resets) become ``VendorUnavailable``."""
    try:
        return await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise VendorUnavailable(f"{display_name} did not answer in time", vendor=vendor) from exc
    except httpx.TransportError as exc:
        raise VendorUnavailable(
            f"the connection to {display_name} failed ({type(exc).__name__})", vendor=vendor
        ) from exc


class VendorHttp:
    """One vendor account over HTTP: the base URL, the credential's headers (applied here and nowhere
    else), and the vendor's way of saying when to retry. Adapters speak to their vendor through it."""

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
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.vendor = vendor
        self.display_name = display_name
        self.target = target
        self.retry_after = retry_after

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The raw answer (for callers that treat some statuses as success). ``path`` may be a full URL."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        return await send(
            self.client, method, url, vendor=self.vendor, display_name=self.display_name, headers=self.headers, **kwargs
        )

    def check(self, response: httpx.Response, target: str | None = None) -> None:
        """Raises as ``raise_for_status``, naming ``target`` (default: the export's list)."""
        raise_for_status(
            response,
            vendor=self.vendor,
            display_name=self.display_name,
            target=target or self.target,
            retry_after=self.retry_after,
        )

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send and raise on any non-success (see ``raise_for_status``)."""
        response = await self.send(method, path, **kwargs)
        self.check(response)
        return response
