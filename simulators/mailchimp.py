"""A stateful Mailchimp Marketing API 3.0 simulator: audiences, merge fields, members and their status.

Faithful to ``docs/vendors.md`` §1: batch subscribe ``POST /3.0/lists/{id}`` takes ≤ 500 members and
answers ``new_members`` / ``updated_members`` / ``errors``; ``status_if_new`` applies to new members only
and ``status`` (when sent) changes it; members who unsubscribed or were cleaned cannot be subscribed
again ("Member In Compliance State"); errors are ``application/problem+json``; more than 10 connections
in flight get a 429. HTTP Basic with the API key (``...-us21``) or an OAuth Bearer token; the OAuth
metadata endpoint (``/oauth2/metadata``, on login.mailchimp.com in reality) names the API host.

Addresses Mailchimp refuses as fake: domains under ``.invalid`` or ``.test`` (an assumption standing in
for Mailchimp's undocumented heuristics — "looks fake or invalid, please enter a real email address").
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from aiohttp import web

from destinations.mailchimp import BATCH_MEMBERS, MailchimpDestination, merge_tags_for, subscriber_hash
from simulators.base import BaseSimulator, SlidingWindow

FAKE = re.compile(r"\.(invalid|test)$")
ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")


def _problem(status: int, title: str, detail: str) -> web.Response:
    body = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/problem+json")


def _json(payload: Any) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


class MailchimpSimulator(BaseSimulator):
    vendor: ClassVar[str] = "mailchimp"
    limits = MailchimpDestination.limits

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = "0" * 32 + "-us21"
        self.oauth_token = "mc-oauth-" + "t" * 24
        self.audiences: dict[str, dict[str, dict[str, Any]]] = {}  # list id → email → member
        self.merge_fields: dict[str, dict[str, str]] = {}  # list id → tag → type
        self.hashes: dict[str, str] = {}  # subscriber hash → email
        self.deleted_permanently: set[str] = set()

    # ---- auth and refusals -----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[7:] == self.oauth_token
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

    def too_many_connections_response(self) -> web.StreamResponse:
        return _problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")

    def rate_limited_response(self, retry_after: float, window: SlidingWindow) -> web.StreamResponse:
        return _problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")

    # ---- routes --------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/metadata", self._metadata)
        app.router.add_get("/3.0/ping", self._ping)
        app.router.add_get("/3.0/lists/{list_id}", self._get_list)
        app.router.add_get("/3.0/lists/{list_id}/merge-fields", self._get_merge_fields)
        app.router.add_post("/3.0/lists/{list_id}", self._batch)
        app.router.add_delete("/3.0/lists/{list_id}/members/{hash}", self._archive)
        app.router.add_post("/3.0/lists/{list_id}/members/{hash}/actions/delete-permanent", self._delete_permanent)

    async def _metadata(self, request: web.Request) -> web.Response:
        return _json(
            {
                "dc": "us21",
                "role": "owner",
                "accountname": "Simulated",
                "api_endpoint": self.url,
                "login_url": "https://login.mailchimp.com",
            }
        )

    async def _ping(self, request: web.Request) -> web.Response:
        return _json({"health_status": "Everything's Chimpy!"})

    def _audience(self, request: web.Request) -> dict[str, dict[str, Any]] | None:
        return self.audiences.get(request.match_info["list_id"])

    async def _get_list(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            audience = self.audiences.get(list_id)
            if audience is None:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            return _json(
                {
                    "id": list_id,
                    "name": f"Audience {list_id}",
                    "stats": {"member_count": sum(m["status"] == "subscribed" for m in audience.values())},
                }
            )

    async def _get_merge_fields(self, request: web.Request) -> web.Response:
        list_id = request.match_info["list_id"]
        with self.lock:
            if list_id not in self.audiences:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            fields = [
                {"merge_id": i + 1, "tag": tag, "type": kind}
                for i, (tag, kind) in enumerate(self.merge_fields[list_id].items())
            ]
        return _json({"merge_fields": fields, "list_id": list_id, "total_items": len(fields)})

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
        new, updated, errors = [], [], []
        with self.lock:
            audience = self.audiences.get(list_id)
            if audience is None:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            fields = self.merge_fields[list_id]
            for item in members:
                email = str(item.get("email_address", "")).lower()
                problem = self._member_problem(email, item, fields)
                if problem is not None:
                    errors.append(
                        {
                            "email_address": email,
                            "error": problem,
                            "error_code": "ERROR_GENERIC",
                            "field": "",
                            "field_message": "",
                        }
                    )
                    continue
                merge = item.get("merge_fields") or {}
                member = audience.get(email)
                if member is not None and member["status"] != "archived":
                    if not update_existing:
                        errors.append(
                            {
                                "email_address": email,
                                "error": f"{email} is already a list member",
                                "error_code": "ERROR_CONTACT_EXISTS",
                            }
                        )
                        continue
                    wanted = item.get("status")
                    if wanted == "subscribed" and member["status"] in ("unsubscribed", "cleaned"):
                        errors.append(
                            {
                                "email_address": email,
                                "error_code": "ERROR_GENERIC",
                                "error": f"{email} is in a compliance state due to unsubscribe, bounce, or compliance "
                                "review and cannot be subscribed.",
                            }
                        )
                        continue
                    if wanted:
                        member["status"] = wanted
                    member["merge_fields"].update(merge)
                    updated.append({"id": member["id"], "email_address": email, "status": member["status"]})
                    continue
                if email in self.deleted_permanently:
                    errors.append(
                        {
                            "email_address": email,
                            "error_code": "ERROR_GENERIC",
                            "error": f"{email} was permanently deleted and cannot be re-imported.",
                        }
                    )
                    continue
                status = item.get("status") or item.get("status_if_new") or "subscribed"
                member = {
                    "id": subscriber_hash(email),
                    "email_address": email,
                    "status": status,
                    "merge_fields": dict(merge),
                }
                audience[email] = member
                self.hashes[member["id"]] = email
                new.append({"id": member["id"], "email_address": email, "status": status})
        return _json(
            {
                "new_members": new,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
            }
        )

    @staticmethod
    def _member_problem(email: str, item: Mapping[str, Any], fields: Mapping[str, str]) -> str | None:
        if "@" not in email or FAKE.search(email):
            return f"{email} looks fake or invalid, please enter a real email address."
        for tag, value in (item.get("merge_fields") or {}).items():
            if tag not in fields:
                return f"Your merge fields were invalid: {tag} does not exist"
            incomplete = not isinstance(value, dict) or any(not value.get(k) for k in ADDRESS_REQUIRED)
            if fields[tag] == "address" and incomplete:
                return "Your merge fields were invalid: ADDRESS needs addr1, city, state and zip"
        return None

    async def _archive(self, request: web.Request) -> web.Response:
        list_id, member_hash = request.match_info["list_id"], request.match_info["hash"]
        with self.lock:
            audience = self.audiences.get(list_id)
            email = self.hashes.get(member_hash)
            if audience is None or email is None or email not in audience or audience[email]["status"] == "archived":
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            audience[email]["status"] = "archived"
        return web.Response(status=204)

    async def _delete_permanent(self, request: web.Request) -> web.Response:
        list_id, member_hash = request.match_info["list_id"], request.match_info["hash"]
        with self.lock:
            audience = self.audiences.get(list_id)
            email = self.hashes.get(member_hash)
            if audience is None or email is None or email not in audience:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            del audience[email]
            self.deleted_permanently.add(email)
        return web.Response(status=204)

    # ---- test-facing state API -----------------------------------------------------------------

    def create_target(self, target_id: str | None = None) -> str:
        list_id = target_id or uuid.uuid4().hex[:10]
        with self.lock:
            self.audiences.setdefault(list_id, {})
            # "FNAME, LNAME, ADDRESS and PHONE are present by default when an audience is created"
            self.merge_fields.setdefault(
                list_id, {"FNAME": "text", "LNAME": "text", "ADDRESS": "address", "PHONE": "phone"}
            )
        return list_id

    def create_field(self, name: str, field_type: str = "text") -> None:
        with self.lock:
            for fields in self.merge_fields.values():
                fields.setdefault(merge_tags_for([name])[name], field_type)

    def _put(self, email: str, target_id: str, attributes: Mapping[str, str] | None, status: str) -> None:
        email = email.lower()
        tags = merge_tags_for(list(attributes or {}))
        merge = {tags[k]: v for k, v in (attributes or {}).items() if tags[k] != "ADDRESS"}
        with self.lock:
            self.audiences.setdefault(target_id, {})[email] = {
                "id": subscriber_hash(email),
                "email_address": email,
                "status": status,
                "merge_fields": merge,
            }
            self.hashes[subscriber_hash(email)] = email

    def add_member(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "subscribed")

    def suppress(self, email: str, target_id: str, attributes: Mapping[str, str] | None = None) -> None:
        self._put(email, target_id, attributes, "unsubscribed")

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
        return [str(m["email_address"]).lower() for r in posts for m in r.json()["members"] if "status" not in m]

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
