"""Mailchimp's documented constants (Marketing API 3.0), each with its source.

Sources: the vendor research ``vendors.md`` §1 (../shared/docs/vendors.md, kept outside the repo; each of its
facts cites the vendor's page, spec or SDK file): the official SDK ``mailchimp/mailchimp-marketing-python``
(lists_api.py), the Fern TypeScript SDK types (``mailchimp/mailchimp-marketing-typescript-sdk``) and
mailchimp.com/developer pages.
"""

from __future__ import annotations

METADATA_URL = "https://login.mailchimp.com/oauth2/metadata"  # OAuth: names the data centre (§1.1)
API = "/3.0"
PING = API + "/ping"  # cheapest key check (§1.5)
LIST = API + "/lists/{list_id}"  # GET: list check; POST: batch subscribe (§1.1, §1.5)
MERGE_FIELDS = API + "/lists/{list_id}/merge-fields"  # GET ?count=1000 (lists_api.py)
MEMBERS = API + "/lists/{list_id}/members"  # GET ?status=&count=&offset=&since_last_changed= (lists_api.py)
MEMBERS_PAGE = 1000  # ``count`` maximum of list endpoints ("up to 1000", API conventions)
MEMBER = API + "/lists/{list_id}/members/{subscriber_hash}"  # PATCH update, DELETE archive (§1.2)
DELETE_PERMANENT = MEMBER + "/actions/delete-permanent"  # POST (§1.2)
BATCH_MEMBERS = 500  # "Up to 500 members may be added or updated with each API call" (§1.1)
MAX_CONCURRENCY = 10  # "a limit of 10 concurrent connections for your API key" (§1.3)
REMOVE_BATCH = 50  # archive and permanent delete are one request per member; 50 members per pipeline batch

# BatchSubscribeOrUnsubscribeListsResponse.errors[].error_code (§1.1): ERROR_CONTACT_EXISTS | ERROR_GENERIC.
ERROR_CONTACT_EXISTS = "ERROR_CONTACT_EXISTS"
# Per-member error texts (§1.4, verbatim from issue threads): compliance → suppressed, never retried.
COMPLIANCE_MARKERS = ("compliance state", "unsubscribe", "cleaned", "permanently deleted", "bounce")
# "has signed up to a lot of lists very recently; we're not allowing more signups for now" (§1.4): a
# temporary refusal, so the row is retried at the next run.
TEMPORARY_MARKERS = ("signed up to a lot of lists very recently", "not allowing more signups for now")
# Member.status values that are not a subscription (§1.1): reported ``suppressed`` and left as they are.
SUPPRESSED_STATUSES = {"unsubscribed", "cleaned"}

# Standard attributes → default merge tags ("FNAME, LNAME, ADDRESS and PHONE are present by default", §1.1).
MERGE_TAGS = {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE"}
# ADDRESS is an address-type merge field: these attributes become its sub-keys when ``address`` is mapped,
# and plain merge tags of these names otherwise (§1.1; sub-key list UNCONFIRMED from an official page).
ADDRESS_PARTS = {"city": "city", "state": "state", "postal_code": "zip", "country": "country"}
PLAIN_PART_TAGS = {"city": "CITY", "state": "STATE", "postal_code": "ZIP", "country": "COUNTRY"}
# Mailchimp refuses an address-type value that lacks any of these ("Please enter a complete address"; the exact
# required set is UNCONFIRMED, §1.1). An incomplete ADDRESS is left out so the member and its other fields still
# arrive, and the address Mailchimp already holds is kept instead of the whole member being refused.
ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")
