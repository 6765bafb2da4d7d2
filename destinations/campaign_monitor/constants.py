"""Campaign Monitor's documented constants (createsend API v3.3), each with its source.

Sources: the vendor research ``vendors.md`` §5 (../shared/docs/vendors.md, kept outside the repo; each of its
facts cites the vendor's page, spec or SDK file): the official SDK ``campaignmonitor/createsend-python``
v9.1.4 and its test fixtures, the official error tables seen through a third-party transcription (UNCONFIRMED
verbatim).
"""

from __future__ import annotations

BASE_URL = "https://api.createsend.com"  # createsend.py base URI (§5.1)
API = "/api/v3.3"
IMPORT = API + "/subscribers/{list_id}/import.json"  # POST, ≤1,000 subscribers (§5.1)
SUBSCRIBER = API + "/subscribers/{list_id}.json"  # DELETE ?email= "moves this subscriber to the deleted state" (§5.2)
UNSUBSCRIBE = API + "/subscribers/{list_id}/unsubscribe.json"  # POST {EmailAddress} (§5.2)
LIST = API + "/lists/{list_id}.json"  # GET list details (§5.5)
CUSTOM_FIELDS = API + "/lists/{list_id}/customfields.json"  # GET (SDK list.py)
SYSTEM_DATE = API + "/systemdate.json"  # cheapest authenticated call (§5.5)

IMPORT_MAX = 1_000  # code 209: "You can only add 1000 subscribers in one call" (§5.1)
REMOVE_BATCH = 50  # one request per subscriber; 50 per pipeline batch
# UNCONFIRMED: no rate limit is published for subscriber endpoints (§5.3); we assume at most 10 requests in
# flight, the politeness Campaign Monitor's own integrations use, and honour any 429.
ASSUMED_CONCURRENCY = 10
MAX_VALUE = 250  # custom field values ≤ 250 characters (§5.1)
RATE_RESET_HEADER = "x-ratelimit-reset"  # transactional endpoints only (§5.3, UNCONFIRMED for subscribers)

# Error codes (§5.4)
INVALID_LIST_CODES = (101,)  # "Invalid ListID" (unknown list on import: UNCONFIRMED)
PARTIAL_IMPORT = 210  # "Subscriber Import had some failures": 400 with ResultData (§5.1, fixtures)
NOT_IN_LIST = 203  # "Subscriber not in list"
COMPLIANCE_CODES = {204: "in the suppression list", 205: "deleted", 206: "unsubscribed", 207: "bounced"}
NAME_PARTS = ("first_name", "last_name")  # one ``Name`` field: first and last name joined (§5.1)


def field_key(name: str) -> str:
    """Custom field keys appear as ``[Key]`` in list definitions; requests may use either form."""
    return name.strip("[]")
