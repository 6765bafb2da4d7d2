"""Omnisend's documented constants (API version 2026-03-15), each with its source.

Sources: the vendor research ``vendors.md`` §4 (../shared/docs/vendors.md, kept outside the repo; each of its
facts cites the vendor's page, spec or SDK file) and the specs
``vendor_specs/omnisend/omnisend-{contacts,batches}-api-2026-03-15.json`` (harvested from Omnisend's registry
by a third party, see vendor_specs/SOURCES.md).
"""

from __future__ import annotations

from destinations.base import RateLimit

BASE_URL = "https://api.omnisend.com"  # §4: v2026-03-15 lives under https://api.omnisend.com/api/
API_VERSION = "2026-03-15"  # required ``Omnisend-Version`` header (§4)
BATCHES = "/api/batches"  # POST CreateBatchRequest → 201 {batchID, totalCount} (batches spec)
BATCH = "/api/batches/{batch_id}"  # GET Batch (batches spec)
BATCH_ITEMS = "/api/batches/{batch_id}/items"  # GET "Get batch items" (batches spec; v3: items[])
CONTACTS = "/api/contacts"  # GET ?limit=1: key check (§4.5); ?status=unsubscribed for the read-back
TAGS = "/api/contacts/tags"  # DELETE {emails ≤250, tags}: untag, 202 (§4.2)
BATCH_MAX_ITEMS = 100  # CreateBatchRequest.items maxItems 100 (batches spec, §4.1)
UNTAG_MAX = 250  # RemoveTagsRequest.emails maxItems 250 (§4.2)
CONTACTS_PAGE = 250  # GET /contacts limit maximum (contacts spec)
PER_MINUTE = (RateLimit(400, 60.0),)  # "rate limited to 400 requests per minute" (§4.3)
TAGS_PER_MINUTE = (RateLimit(60, 60.0),)  # tag endpoints: 60 a minute (§4.2)
RATE_RESET_HEADER = "x-rate-limit-reset"  # v3 docs: seconds left (§4.3); 2026: 429 body ``retryAfter``

# Batch.status: pending | inProgress | finished | stopped ("Batch stopped for too many errors") (§4.1)
RUNNING = ("pending", "inProgress", "in_progress", "started")
FINISHED = "finished"
STOPPED = "stopped"

FIELDS = {  # ContactRequest property names (§4.1)
    "first_name": "firstName",
    "last_name": "lastName",
    "address": "address",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "country",
}
