"""Read a list back the way an integrator would: through the vendor's own read endpoints, never through
a simulator's internals. Tests use it to check a vendor's final state after an export.

``read_back(vendor, base_url, api_key, target, emails=None)`` answers ``{email: status}`` for the
contacts of ``target`` (a list id; Omnisend: the tag), with the vendor's own status word:

- Mailchimp: ``GET /3.0/lists/{id}/members`` (``count`` 1,000 a page) → ``status``;
- SendGrid: ``POST /v3/marketing/contacts/search/emails`` (100 a call; SendGrid has no paged list read,
  so ``emails`` is required) → ``subscribed`` when the contact is in the list, ``unsubscribed`` /
  ``bounced`` / ``spam`` when on a suppression list (``GET /v3/suppression/…``);
- Brevo: ``GET /v3/contacts/lists/{id}/contacts`` (500 a page) → ``blocklisted`` or ``subscribed``;
- Omnisend: ``GET /api/contacts?tag=`` (250 a page, cursor ``after``) → the email channel ``status``;
- Campaign Monitor: ``GET /api/v3.3/lists/{id}/{active,unsubscribed,bounced,deleted}.json`` → state.

With ``emails`` given, the answer is limited to them. Plain ``httpx``, bounded pages; a 429 is waited
out as the vendor's hint says (at most ``MAX_WAITS`` times, each wait ≤ 5 s), as an integrator would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

MAX_PAGES = 10_000  # a read-back never loops for ever, whatever a server answers
MAX_WAITS = 50

Reader = Callable[[httpx.Client, str, "set[str] | None"], dict[str, str]]


def read_back(
    vendor: str, base_url: str, api_key: str, target: str, emails: Iterable[str] | None = None
) -> dict[str, str]:
    wanted = {e.lower() for e in emails} if emails is not None else None
    headers, auth = _credentials(vendor, api_key)
    with _Patient(base_url=base_url, headers=headers, auth=auth, timeout=30) as client:
        found = READERS[vendor](client, target, wanted)
    return {e: s for e, s in found.items() if wanted is None or e in wanted}


def _credentials(vendor: str, key: str) -> tuple[dict[str, str], tuple[str, str] | None]:
    if vendor == "mailchimp":
        return {}, ("anystring", key)
    if vendor == "campaign_monitor":
        return {}, (key, "x")
    if vendor == "sendgrid":
        return {"Authorization": f"Bearer {key}"}, None
    if vendor == "brevo":
        return {"api-key": key}, None
    if vendor == "omnisend":
        return {"Authorization": f"Omnisend-API-Key {key}", "Omnisend-Version": "2026-03-15"}, None
    raise ValueError(f"no read-back for {vendor!r}")


class _Patient(httpx.Client):
    """An ``httpx.Client`` that waits out 429s by the vendor's hint (bounded)."""

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        for _ in range(MAX_WAITS):
            response = super().send(request, **kwargs)
            if response.status_code != 429:
                return response
            response.read()
            time.sleep(min(5.0, max(0.05, _hint(response))))
        return response


def _hint(response: httpx.Response) -> float:
    """Seconds to wait: Retry-After, SendGrid's epoch X-RateLimit-Reset, Brevo's x-sib-ratelimit-reset,
    Omnisend's retryAfter; else a short pause (Mailchimp and Campaign Monitor send none)."""
    headers = response.headers
    try:
        if "retry-after" in headers:
            return float(headers["retry-after"])
        if "x-ratelimit-reset" in headers:
            return float(headers["x-ratelimit-reset"]) - time.time()
        if "x-sib-ratelimit-reset" in headers:
            return float(headers["x-sib-ratelimit-reset"])
        return float(response.json().get("retryAfter", 0.2))
    except (ValueError, AttributeError):
        return 0.2


def _json(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def _mailchimp(client: httpx.Client, target: str, wanted: set[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in range(MAX_PAGES):
        body = _json(client.get(f"/3.0/lists/{target}/members", params={"count": 1000, "offset": page * 1000}))
        found.update({m["email_address"].lower(): m["status"] for m in body["members"]})
        if (page + 1) * 1000 >= body["total_items"]:
            break
    return found


def _sendgrid(client: httpx.Client, target: str, wanted: set[str] | None) -> dict[str, str]:
    if wanted is None:
        raise ValueError("SendGrid has no paged read of a list: pass the emails to look up")
    found: dict[str, str] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 100):
        response = client.post("/v3/marketing/contacts/search/emails", json={"emails": ordered[start : start + 100]})
        if response.status_code == 404:  # "404 when none" of them exists
            continue
        for email, entry in _json(response)["result"].items():
            contact = entry.get("contact")
            if contact is not None and target in contact.get("list_ids", []):
                found[email.lower()] = "subscribed"
    for path, word in (("unsubscribes", "unsubscribed"), ("bounces", "bounced"), ("spam_reports", "spam")):
        for page in range(MAX_PAGES):
            entries = _json(client.get(f"/v3/suppression/{path}", params={"limit": 500, "offset": page * 500}))
            for entry in entries:
                if entry["email"].lower() in found:
                    found[entry["email"].lower()] = word
            if len(entries) < 500:
                break
    return found


def _brevo(client: httpx.Client, target: str, wanted: set[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in range(MAX_PAGES):
        body = _json(client.get(f"/v3/contacts/lists/{target}/contacts", params={"limit": 500, "offset": page * 500}))
        for contact in body["contacts"]:
            found[contact["email"].lower()] = "blocklisted" if contact["emailBlacklisted"] else "subscribed"
        if (page + 1) * 500 >= body["count"]:
            break
    return found


def _omnisend(client: httpx.Client, target: str, wanted: set[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    params: dict[str, Any] = {"tag": target, "limit": 250}
    for _ in range(MAX_PAGES):
        body = _json(client.get("/api/contacts", params=params))
        found.update({c["email"].lower(): c["status"] for c in body["contacts"]})
        after = (body.get("paging") or {}).get("cursors", {}).get("after")
        if not body["paging"].get("hasMore") or not after:
            break
        params["after"] = after
    return found


def _campaign_monitor(client: httpx.Client, target: str, wanted: set[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for state in ("active", "unsubscribed", "bounced", "deleted"):
        for page in range(1, MAX_PAGES):
            body = _json(client.get(f"/api/v3.3/lists/{target}/{state}.json", params={"page": page, "pagesize": 1000}))
            found.update({s["EmailAddress"].lower(): s["State"].lower() for s in body["Results"]})
            if page >= body["NumberOfPages"]:
                break
    return found


READERS: dict[str, Reader] = {
    "mailchimp": _mailchimp,
    "sendgrid": _sendgrid,
    "brevo": _brevo,
    "omnisend": _omnisend,
    "campaign_monitor": _campaign_monitor,
}
