"""A stateful Mailchimp Marketing API 3.0 simulator: audiences, merge fields, members and their status,
and Mailchimp's OAuth 2 authorization server.

Written from ``docs/vendors.md`` §1, the official SDKs' types (``mailchimp-marketing`` 3.0.80 and the
Fern TypeScript SDK) and Mailchimp's guides, not from the adapter: batch subscribe ``POST /3.0/lists/{id}``
takes ≤ 500 members and answers ``new_members`` / ``updated_members`` (``ListsPost`` member bodies) /
``errors`` (``email_address, error, error_code, field, field_message``) with totals; errors are
``application/problem+json``; more than 10 connections in flight get a 429. HTTP Basic with the API key
(``…-us21``) or an OAuth Bearer token.

Per-member refusals, each an entry of ``errors[]`` with the member left as it was:
- compliance state: an unsubscribed or cleaned member cannot be set ``subscribed`` ("… is in a compliance
  state due to unsubscribe, bounce, or compliance review and cannot be subscribed.", vendors.md §1.4);
  a permanently deleted address cannot be re-imported;
- invalid merge field: a tag the audience lacks, or an incomplete ADDRESS;
- fake or bounced address ("… looks fake or invalid, please enter a real email address."): domains
  under ``.invalid``/``.test`` stand in for Mailchimp's undocumented heuristics, and ``sim.mark_bounced``
  makes an address one Mailchimp has cleaned account-wide;
- duplicates in one batch: the first occurrence is applied ONCE, a later one is an error
  (``skip_duplicate_check``: "If true, we will ignore duplicates sent in the request … The status of the
  first appearance in the request will be saved. This defaults to false." — lists_api.py docstring).

``status_if_new`` — the STRICTER READING, an assumption: Mailchimp's published schema of the batch
member ("Add List Members": email_address, email_type, status, merge_fields, …, openapi.city rendering of
Mailchimp's Swagger) has no ``status_if_new``; the newer Fern SDK declares the enum type but types the
member as ``unknown``; a maintainer's note (VingtCinq/python-mailchimp#68) says it appeared only in an
example of the batch call. So this simulator ignores ``status_if_new``: an existing member sent without
``status`` keeps its status (merge fields updated), and a NEW member sent without ``status`` is refused
per member. A missing status never defaults to subscribed.

Read endpoints: ``GET /3.0/lists/{id}/members`` (``count`` ≤ 1,000, ``offset``, ``status``) answers
``{members, list_id, total_items, _links}``; ``GET /3.0/lists/{id}/members/{subscriber_hash}`` one member.

OAuth 2 (https://mailchimp.com/developer/marketing/guides/access-user-data-oauth-2/; on
login.mailchimp.com in reality, on this server here): ``GET /oauth2/authorize`` redirects to the
registered ``redirect_uri`` with a ``code``; ``POST /oauth2/token`` exchanges it
(``grant_type=authorization_code``) for an access token that never expires (``expires_in: 0``);
``GET /oauth2/metadata`` (``Authorization: OAuth <token>``) names the data center and ``api_endpoint``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson
from aiohttp import web

from simulators.base import BaseSimulator, SimulatorLimits, SlidingWindow, iso_timestamp

BATCH_MEMBERS = 500  # "Up to 500 members may be added or updated with each API call" (vendors.md §1.1)
MAX_CONCURRENCY = 10  # "a limit of 10 concurrent connections for your API key" (vendors.md §1.3)
MEMBERS_PAGE_MAX = 1000  # ``count``: "Default value is 10. Maximum value is 1000" (list members reference)
DATA_CENTER = "us21"  # the data center a key names after its dash selects the host (vendors.md §1.5)
# "FNAME, LNAME, ADDRESS and PHONE are present by default when an audience is created" (merge-fields docs).
DEFAULT_MERGE_FIELDS = {"FNAME": "text", "LNAME": "text", "ADDRESS": "address", "PHONE": "phone"}
# An ADDRESS value needs these sub-keys ("Please enter a complete address"; exact set UNCONFIRMED, §1.1).
ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")
# Member status enum (BatchSubscribeOrUnsubscribeListsRequestMembersItemStatus, vendors.md §1.1).
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
COMPLIANCE = ("unsubscribed", "cleaned")  # "cannot be subscribed" once in these (vendors.md §1.4)
FAKE = re.compile(r"\.(invalid|test)$")  # RFC 2606 reserved names stand in for Mailchimp's heuristics
# The product's standard attribute names the test helpers take → default / conventional merge tags.
STANDARD_TAGS = {
    "first_name": "FNAME",
    "last_name": "LNAME",
    "phone": "PHONE",
    "address": "ADDRESS",
    "city": "CITY",
    "state": "STATE",
    "postal_code": "ZIP",
    "country": "COUNTRY",
}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: "The MD5 hash of the lowercase version of the list member's email address"."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


def merge_tag(name: str) -> str:
    return STANDARD_TAGS.get(name, name)


def _problem(status: int, title: str, detail: str) -> web.Response:
    body = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/problem+json")


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _member_error(email: str, error: str, code: str = "ERROR_GENERIC", field: str = "", message: str = "") -> dict:
    return {"email_address": email, "error": error, "error_code": code, "field": field, "field_message": message}


class MailchimpSimulator(BaseSimulator):
    vendor: ClassVar[str] = "mailchimp"
    limits: ClassVar[SimulatorLimits] = SimulatorLimits(rate_limits={}, max_concurrency=MAX_CONCURRENCY)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Keys end with "-<dc>" (vendors.md §1.5).
        self.api_key = "0" * 32 + "-" + DATA_CENTER
        self.oauth_token = "mc-oauth-" + "t" * 24
        self.oauth_client = ("mc-client-id", "mc-client-secret")  # (client_id, client_secret) registered
        self.oauth_tokens: set[str] = {self.oauth_token}
        self._codes: dict[str, tuple[str, str]] = {}  # code → (client_id, redirect_uri)
        self.audiences: dict[str, dict[str, dict[str, Any]]] = {}  # list id → email → member
        # list id → status → emails: list details count members by status and a status-filtered read pages
        # through that status only, as Mailchimp's own index would, instead of a pass over every member on
        # the server loop (1M members held it for a second and more, other answers with it).
        self._by_status: dict[str, dict[str, set[str]]] = {}
        self.merge_fields: dict[str, dict[str, str]] = {}  # list id → tag → type
        self.hashes: dict[str, str] = {}  # subscriber hash → email
        self.deleted_permanently: set[str] = set()
        self.bounced: set[str] = set()  # cleaned account-wide: refused as new members

    # ---- auth and refusals -----------------------------------------------------------------------

    def is_public(self, request: web.Request) -> bool:
        return request.path.startswith("/oauth2/")  # the OAuth endpoints check their own credentials

    def authenticate(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[7:] in self.oauth_tokens
        if header.startswith("Basic "):
            try:
                _, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return password == self.api_key
        return False

    def unauthorized_response(self) -> web.StreamResponse:
        return _problem(
            401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the wrong datacenter."
        )

    def server_error_response(self, status: int) -> web.StreamResponse:
        return _problem(status, "Internal Server Error", "An unexpected internal error has occurred.")

    def too_many_connections_response(self) -> web.StreamResponse:
        return _problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        # No Retry-After or X-RateLimit-* headers are documented (vendors.md §1.3).
        return _problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_get("/oauth2/metadata", self._metadata)
        app.router.add_get("/3.0/ping", self._ping)
        app.router.add_get("/3.0/lists/{list_id}", self._get_list)
        app.router.add_get("/3.0/lists/{list_id}/merge-fields", self._get_merge_fields)
        app.router.add_get("/3.0/lists/{list_id}/members", self._list_members)
        app.router.add_get("/3.0/lists/{list_id}/members/{hash}", self._get_member)
        app.router.add_post("/3.0/lists/{list_id}", self._batch)
        app.router.add_delete("/3.0/lists/{list_id}/members/{hash}", self._archive)
        app.router.add_post("/3.0/lists/{list_id}/members/{hash}/actions/delete-permanent", self._delete_permanent)

    # ---- OAuth 2 -------------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        redirect = query.get("redirect_uri", "")
        if query.get("response_type") != "code" or query.get("client_id") != self.oauth_client[0] or not redirect:
            return web.Response(status=400, text="invalid client_id, response_type or redirect_uri")
        code = secrets.token_hex(16)
        with self.lock:
            self._codes[code] = (query["client_id"], redirect)
        params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        raise web.HTTPFound(f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(params)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type", "error_description": "grant_type"}, 400)
        if client != self.oauth_client:
            return _json({"error": "invalid_client", "error_description": "Invalid client credentials"}, 401)
        with self.lock:
            issued = self._codes.pop(str(form.get("code", "")), None)
            if issued is None or issued != (client[0], str(form.get("redirect_uri", ""))):
                return _json({"error": "invalid_grant", "error_description": "Invalid authorization code"}, 400)
            token = secrets.token_hex(16)
            self.oauth_tokens.add(token)
        # Mailchimp access tokens do not expire: "expires_in": 0 (OAuth guide).
        return _json({"access_token": token, "expires_in": 0, "scope": None})

    async def _metadata(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme not in ("OAuth", "Bearer") or token not in self.oauth_tokens:
            return _json({"error": "invalid_token", "error_description": "Invalid token"}, 401)
        return _json(
            {
                "dc": DATA_CENTER,
                "role": "owner",
                "accountname": "Simulated",
                "user_id": 1,
                "login": {"email": "owner@example.com", "login_id": 1, "login_name": "owner", "role": "owner"},
                "login_url": "https://login.mailchimp.com",
                "api_endpoint": self.url,
            }
        )

    # ---- API -----------------------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return _json({"health_status": "Everything's Chimpy!"})

    async def _get_list(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            audience = self.audiences.get(list_id)
            if audience is None:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            index = self._by_status.get(list_id, {})
            counts = {s: len(index.get(s, ())) for s in STATUSES}
            return _json(
                {
                    "id": list_id,
                    "name": f"Audience {list_id}",
                    "stats": {
                        "member_count": counts["subscribed"],
                        "unsubscribe_count": counts["unsubscribed"],
                        "cleaned_count": counts["cleaned"],
                    },
                }
            )

    async def _get_merge_fields(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            if list_id not in self.audiences:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            fields = [
                {"merge_id": i + 1, "tag": tag, "type": kind, "list_id": list_id}
                for i, (tag, kind) in enumerate(self.merge_fields[list_id].items())
            ]
        return _json({"merge_fields": fields, "list_id": list_id, "total_items": len(fields)})

    def _member_body(self, list_id: str, member: Mapping[str, Any]) -> dict[str, Any]:
        """A member as ``ListsPost`` (Fern SDK ``src/api/types/ListsPost.ts``)."""
        merge = {tag: "" for tag, kind in self.merge_fields.get(list_id, {}).items() if kind != "address"}
        merge.update(member["merge_fields"])
        return {
            "id": member["id"],
            "email_address": member["email_address"],
            "unique_email_id": member["unique_email_id"],
            "contact_id": member["contact_id"],
            "email_type": "html",
            "status": member["status"],
            "merge_fields": merge,
            "interests": {},
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": "",
            "timestamp_signup": "",
            "ip_opt": "",
            "timestamp_opt": iso_timestamp(member["created"]),
            "member_rating": 2,
            "last_changed": iso_timestamp(member["changed"]),
            "language": "",
            "vip": False,
            "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": ""},
            "tags_count": 0,
            "tags": [],
            "list_id": list_id,
            "_links": [],
        }

    async def _list_members(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        count = int(request.query.get("count", "10"))
        if not 1 <= count <= MEMBERS_PAGE_MAX:
            return _problem(400, "Invalid Resource", f"count must be between 1 and {MEMBERS_PAGE_MAX}")
        offset = int(request.query.get("offset", "0"))
        status = request.query.get("status")
        with self.lock:
            audience = self.audiences.get(list_id)
            if audience is None:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            if status is None:
                chosen = [m for _, m in sorted(audience.items())]
            else:
                chosen = [audience[e] for e in sorted(self._by_status.get(list_id, {}).get(status, ()))]
            page = [self._member_body(list_id, m) for m in chosen[offset : offset + count]]
        return _json({"members": page, "list_id": list_id, "total_items": len(chosen), "_links": []})

    async def _get_member(self, request: web.Request) -> web.Response:
        list_id, key = request.match_info["list_id"], request.match_info["hash"].lower()
        with self.lock:
            audience = self.audiences.get(list_id)
            email = key if "@" in key else self.hashes.get(key)  # "also accepts a list member's email address"
            member = audience.get(email or "") if audience is not None else None
            if member is None:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            return _json(self._member_body(list_id, member))

    async def _batch(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _problem(400, "Invalid Resource", "The request body could not be parsed as JSON.")
        members = body.get("members")
        if not isinstance(members, list):
            return _problem(400, "Invalid Resource", "Schema describes array, object found instead (members)")
        if len(members) > BATCH_MEMBERS:
            return _problem(400, "Invalid Resource", f"Up to {BATCH_MEMBERS} members may be added or updated per call")
        update_existing = bool(body.get("update_existing"))
        skip_duplicates = request.query.get("skip_duplicate_check", "").lower() == "true"
        new: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.lock:
            audience = self.audiences.get(list_id)
            if audience is None:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            seen: set[str] = set()
            for item in members:
                email = str(item.get("email_address", "")).lower()
                if email in seen:
                    if not skip_duplicates:
                        # The exact wording is UNCONFIRMED; that a repeat is refused follows the docstring.
                        errors.append(_member_error(email, f"{email} appears more than once in this batch"))
                    continue
                seen.add(email)
                outcome = self._apply_member(list_id, audience, email, item, update_existing)
                if "error" in outcome:
                    errors.append(outcome)
                elif outcome.pop("_new"):
                    new.append(outcome)
                else:
                    updated.append(outcome)
        return _json(
            {
                "new_members": new,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
                "_links": [],
            }
        )

    def _apply_member(
        self, list_id: str, audience: dict[str, dict[str, Any]], email: str, item: Mapping[str, Any], update: bool
    ) -> dict[str, Any]:
        """One batch member: the error entry, or the member body (with ``_new``) after applying it."""
        if "@" not in email or FAKE.search(email):
            return _member_error(email, f"{email} looks fake or invalid, please enter a real email address.")
        wanted = item.get("status")
        if wanted is not None and wanted not in STATUSES:
            return _member_error(email, "Invalid Resource", field="status", message=f"status must be one of {STATUSES}")
        problem = self._merge_problem(item.get("merge_fields") or {}, self.merge_fields[list_id])
        if problem is not None:
            return _member_error(
                email, f"Your merge fields were invalid: {problem}", field="merge_fields", message=problem
            )
        member = audience.get(email)
        now = time.time()
        if member is not None and member["status"] != "archived":
            if not update:
                return _member_error(email, f"{email} is already a list member", "ERROR_CONTACT_EXISTS")
            if (
                member["status"] in COMPLIANCE
                and wanted in ("subscribed", "pending")
                and (wanted == "subscribed" or member["status"] == "cleaned")
            ):
                return _member_error(
                    email,
                    f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review and "
                    "cannot be subscribed.",
                )
            if wanted is not None:
                self._set_status(list_id, member, wanted)
            member["merge_fields"].update(item.get("merge_fields") or {})
            member["changed"] = now
            return {**self._member_body(list_id, member), "_new": False}
        if email in self.deleted_permanently:
            return _member_error(email, f"{email} was permanently deleted and cannot be re-imported.")
        if email in self.bounced:
            return _member_error(email, f"{email} has bounced and was cleaned; it cannot be imported again.")
        if wanted is None:
            # Stricter reading (module docstring): status_if_new is not honoured, a new member needs status.
            return _member_error(
                email,
                "Invalid Resource: a new member needs a status",
                field="status",
                message="Schema describes enum, NULL found instead",
            )
        member = member or self._new_member(email)
        member.update(merge_fields=dict(item.get("merge_fields") or {}), changed=now)
        audience[email] = member
        self._set_status(list_id, member, wanted)
        self.hashes[member["id"]] = email
        return {**self._member_body(list_id, member), "_new": True}

    def _set_status(self, list_id: str, member: dict[str, Any], status: str) -> None:
        """Set a member's status (with the lock held), keeping ``_by_status`` in step."""
        self._reindex(list_id, member["email_address"], member["status"], status)
        member["status"] = status

    def _reindex(self, list_id: str, email: str, old: str | None, new: str | None) -> None:
        """Move ``email`` from status ``old`` to ``new`` in ``_by_status`` (None: in no status; lock held)."""
        index = self._by_status.setdefault(list_id, {})
        if old is not None:
            index.get(old, set()).discard(email)
        if new is not None:
            index.setdefault(new, set()).add(email)

    @staticmethod
    def _merge_problem(merge: Mapping[str, Any], fields: Mapping[str, str]) -> str | None:
        for tag, value in merge.items():
            if tag not in fields:
                return f"{tag} is not a merge field of this audience"
            incomplete = not isinstance(value, dict) or any(not value.get(k) for k in ADDRESS_REQUIRED)
            if fields[tag] == "address" and incomplete:
                return f"{tag} needs addr1, city, state and zip"
            if fields[tag] == "number" and not _is_number(value):
                return f"{tag} must be a number"
        return None

    @staticmethod
    def _new_member(email: str) -> dict[str, Any]:
        now = time.time()
        return {
            "id": subscriber_hash(email),
            "email_address": email,
            "unique_email_id": subscriber_hash("unique:" + email)[:10],
            "contact_id": subscriber_hash("contact:" + email),
            "status": "pending",
            "merge_fields": {},
            "created": now,
            "changed": now,
        }

    async def _archive(self, request: web.Request) -> web.Response:
        list_id, member_hash = request.match_info["list_id"], request.match_info["hash"]
        with self.lock:
            audience = self.audiences.get(list_id)
            email = self.hashes.get(member_hash)
            if audience is None or email is None or email not in audience or audience[email]["status"] == "archived":
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            self._set_status(list_id, audience[email], "archived")
        return web.Response(status=204)

    async def _delete_permanent(self, request: web.Request) -> web.Response:
        list_id, member_hash = request.match_info["list_id"], request.match_info["hash"]
        with self.lock:
            audience = self.audiences.get(list_id)
            email = self.hashes.get(member_hash)
            if audience is None or email is None or email not in audience:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            self._reindex(list_id, email, audience.pop(email)["status"], None)
            self.deleted_permanently.add(email)
        return web.Response(status=204)

    # ---- test-facing state API -----------------------------------------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        list_id = target_id or uuid.uuid4().hex[:10]
        with self.lock:
            self.audiences.setdefault(list_id, {})
            self.merge_fields.setdefault(list_id, dict(DEFAULT_MERGE_FIELDS))
        return list_id

    def create_field(self, name: str, field_type: str = "text") -> None:
        with self.lock:
            for fields in self.merge_fields.values():
                fields.setdefault(merge_tag(name), field_type)

    def mark_bounced(self, email: str) -> None:
        """Make ``email`` an address Mailchimp cleaned after bounces: refused as a new member."""
        with self.lock:
            self.bounced.add(email.lower())

    def _put(self, email: str, target_id: str, attributes: Mapping[str, str] | None, status: str) -> None:
        email = email.lower()
        merge = {merge_tag(k): v for k, v in (attributes or {}).items() if merge_tag(k) != "ADDRESS"}
        with self.lock:
            member = self._new_member(email)
            member.update(status=status, merge_fields=merge)
            audience = self.audiences.setdefault(target_id, {})
            replaced = audience.get(email)
            audience[email] = member
            self._reindex(target_id, email, None if replaced is None else replaced["status"], status)
            self.merge_fields.setdefault(target_id, dict(DEFAULT_MERGE_FIELDS))
            self.hashes[member["id"]] = email

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "subscribed")

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "unsubscribed")

    def clean(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        """Make ``email`` a member Mailchimp cleaned (bounced) in the audience."""
        self._put(email, target_id, attributes, "cleaned")

    def members(self, target_id: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {
                e: dict(m["merge_fields"])
                for e, m in self.audiences.get(target_id, {}).items()
                if m["status"] == "subscribed"
            }

    def subscription_status(self, email: str, target_id: str) -> str | None:
        with self.lock:
            member = self.audiences.get(target_id, {}).get(email.lower())
            return None if member is None else str(member["status"])

    def upserted_emails(self) -> list[str]:
        with self.lock:
            posts = [r for r in self.requests if r.method == "POST" and r.status == 200 and r.path.count("/") == 3]
        return [
            str(m["email_address"]).lower()
            for r in posts
            for m in r.json()["members"]
            if m.get("status") != "unsubscribed"
        ]

    def removed_emails(self) -> list[str]:
        with self.lock:
            done = [r for r in self.requests if r.status in (200, 204)]
            emails = [
                self.hashes.get(r.path.split("/")[5], "")
                for r in done
                if r.method == "DELETE" or r.path.endswith("/delete-permanent")
            ]
        posts = [r for r in done if r.method == "POST" and r.path.count("/") == 3]
        emails += [
            str(m["email_address"]).lower()
            for r in posts
            for m in r.json()["members"]
            if m.get("status") == "unsubscribed"
        ]
        return emails


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
