"""SendGrid's documented constants, each with its source.

Sources: the vendor research ``vendors.md`` §2 (../shared/docs/vendors.md, kept outside the repo; each of its
facts cites the vendor's page, spec or SDK file) and the official spec twilio/sendgrid-oai
``spec/yaml/tsg_mc_contacts_v3.yaml`` (copied to ``vendor_specs/sendgrid``).
"""

from __future__ import annotations

from destinations.base import RateLimit

BASE_URL = "https://api.sendgrid.com"  # vendors.md §2.1; tsg_mc_contacts_v3 servers
CONTACTS = "/v3/marketing/contacts"  # PUT: UpdateContact (upsert); DELETE ?ids=: delete account-wide (§2.2)
IMPORTS = "/v3/marketing/contacts/imports/{job_id}"  # GET: ContactImport (§2.1)
SEARCH_EMAILS = "/v3/marketing/contacts/search/emails"  # POST: ≤100 emails, 404 when none found (§2.2)
LIST = "/v3/marketing/lists/{list_id}"  # GET: list check (§2.5)
LIST_CONTACTS = "/v3/marketing/lists/{list_id}/contacts"  # DELETE ?contact_ids=: remove from list (§2.2)
FIELD_DEFINITIONS = "/v3/marketing/field_definitions"  # GET: custom fields by id (tsg_mc_custom_fields_v3)
SCOPES = "/v3/scopes"  # GET: key check (§2.5, tsg_scopes_v3)
# Suppressions API: https://www.twilio.com/docs/sendgrid/api-reference/suppressions-unsubscribes (not in the
# copied specs); the global unsubscribe group: https://www.twilio.com/docs/sendgrid/api-reference/suppressions-global-suppressions
GLOBAL_UNSUBSCRIBE = "/v3/asm/suppressions/global"
SUPPRESSION_LISTS = {
    "/v3/suppression/unsubscribes": "unsubscribed in SendGrid (global unsubscribe)",
    "/v3/suppression/bounces": "bounced in SendGrid",
    "/v3/suppression/spam_reports": "reported spam in SendGrid",
}
SUPPRESSION_PAGE = 500  # the suppression endpoints' maximum ``limit`` (Suppressions API reference)

MAX_CONTACTS = 30_000  # "up to 30,000 contacts, or 6MB of data, whichever is lower" (§2.1; maxItems 30000)
MAX_BODY_BYTES = 6_000_000  # 6 MB read as decimal megabytes: the stricter reading (§2.1)
SEARCH_MAX_EMAILS = 100  # search/emails: "up to 100 contacts" (§2.2)
# UNCONFIRMED: SendGrid publishes no number for the marketing endpoints (§2.3), only that each endpoint has
# one and answers 429 with X-RateLimit-Reset (epoch seconds). We assume 10 requests/s per endpoint family,
# a figure comfortably inside what accounts observe; the 429 handling covers a lower real one.
ASSUMED_RATE = (RateLimit(10, 1.0),)
RATE_RESET_HEADER = "x-ratelimit-reset"  # §2.3: epoch seconds

# ContactImport.status (§2.1): pending | completed | errored | failed
JOB_PENDING = "pending"
JOB_COMPLETED = "completed"
JOB_ERRORED = "errored"
JOB_FAILED = "failed"

# The product's standard attributes as SendGrid reserved fields (ContactRequest, §2.1).
RESERVED = {
    "first_name": "first_name",
    "last_name": "last_name",
    "address": "address_line_1",
    "city": "city",
    "state": "state_province_region",
    "postal_code": "postal_code",
    "country": "country",
}

# ContactRequest ``maxLength`` values (§2.1): longer values are refused per row before a 400 would cost a
# round trip.
MAX_LENGTHS = {
    "email": 254,
    "first_name": 50,
    "last_name": 50,
    "address_line_1": 100,
    "city": 60,
    "state_province_region": 50,
    "country": 50,
}

ENVELOPE_BYTES = 256  # '{"list_ids":["<uuid>"],"contacts":[' + ']}'


def rate_bucket_of(path: str) -> str:
    """SendGrid limits per endpoint family (§2.3: "each endpoint permits a fixed number of requests")."""
    if path.startswith("/v3/marketing/contacts/imports"):
        return "imports"
    if path.startswith("/v3/marketing/contacts/search"):
        return "search"
    if path.startswith("/v3/marketing/contacts"):
        return "contacts"
    if path.startswith("/v3/marketing/lists"):
        return "lists"
    if path.startswith("/v3/marketing/field_definitions"):
        return "fields"
    return "suppressions"
