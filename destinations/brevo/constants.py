"""Brevo's documented constants, each with its source.

Sources: the vendor research ``vendors.md`` §3 (../shared/docs/vendors.md, kept outside the repo; each of its
facts cites the vendor's page, spec or SDK file), the official spec
``vendor_specs/brevo/swagger_definition_v3.yml`` and https://developers.brevo.com/reference/get-process.
"""

from __future__ import annotations

from destinations.base import RateLimit

BASE_URL = "https://api.brevo.com"  # §3.1
IMPORT = "/v3/contacts/import"  # POST importContacts: 202 {processId} (§3.1)
PROCESS = "/v3/processes/{process_id}"  # GET getProcess (§3.1)
LIST = "/v3/contacts/lists/{list_id}"  # GET: checks key and list, 404 "List ID not found" (§3.5)
CONTACTS = "/v3/contacts"  # GET getContacts: listIds, modifiedSince, limit ≤ 1000 (spec)
LIST_REMOVE = "/v3/contacts/lists/{list_id}/contacts/remove"  # POST, ≤150 emails (§3.2)
ATTRIBUTES = "/v3/contacts/attributes"  # GET getAttributes (spec)
CONTACT = "/v3/contacts/{identifier}"  # PUT updateContact / DELETE deleteContact (spec)

SAFE_BODY_BYTES = 8_000_000  # "we recommend a safe limit of around 8 MB" (§3.1)
LIST_EDIT_MAX = 150  # contacts/add and contacts/remove take at most 150 emails (§3.1, §3.2)
# GET /v3/contacts takes up to 1,000 a page (the list's own .../lists/{id}/contacts only 500): half the
# requests for the suppression read-back, which pages every member modified since the last run (spec).
CONTACTS_PAGE = 1000
CONTACTS_LIMITS = (RateLimit(10, 1.0), RateLimit(36_000, 3_600.0))  # General tier, /v3/contacts/* (§3.3)
OTHER_LIMITS = (RateLimit(100, 3_600.0),)  # "All other endpoints": 100 requests per hour (§3.3)
RATE_RESET_HEADER = "x-sib-ratelimit-reset"  # seconds left (§3.3); no Retry-After documented

# getProcess.status: the Feb-2025 spec has queued | in_process | completed; the 2026 Fern SDK adds
# processing | failed | cancelled (§3.1).
RUNNING = ("queued", "in_process", "processing")
COMPLETED = "completed"
ENDED_BADLY = ("failed", "cancelled")
# getProcess.info.import: "Contains URLs to CSV files with details about problematic records"
# (developers.brevo.com/reference/get-process). Each names rows Brevo did not import; the reason per report:
IMPORT_REPORTS = {
    "invalid_emails": "Brevo refused the address as invalid",
    "duplicate_contact_id": "Brevo found a duplicate contact id",
    "duplicate_ext_id": "Brevo found a duplicate external id",
    "duplicate_email_id": "Brevo found the email twice in the import",
    "duplicate_phone_id": "Brevo found the phone number on another contact",
    "duplicate_whatsapp_id": "Brevo found the WhatsApp number on another contact",
    "duplicate_landline_number_id": "Brevo found the landline number on another contact",
}

STANDARD = {"first_name": "FIRSTNAME", "last_name": "LASTNAME", "phone": "SMS"}  # §3.1 attribute names


def attribute_name(attribute: str) -> str:
    """Brevo attribute names are upper case; the standard ones have fixed names."""
    return STANDARD.get(attribute, attribute.upper())
