"""Where a profile ends — one type for the pipeline, the run report and the vendor adapters.

Every profile read ends in exactly one of the first seven (the report's invariant); an adapter answers
each contact it was sent with ``UPSERTED``, ``REMOVED``, ``SUPPRESSED``, ``REJECTED`` or ``FAILED``.
"""

from __future__ import annotations

import enum


class Outcome(str, enum.Enum):
    UPSERTED = "upserted"  # the vendor's own answer says it kept the contact
    UNCHANGED = "unchanged"  # the vendor already holds these values (the snapshot says so)
    INVALID = "invalid"  # the row cannot be sent (no valid email, a bad value, an unreadable line)
    DUPLICATE = "duplicate"  # the same email earlier in the segments: the first occurrence is sent
    SUPPRESSED = "suppressed"  # compliance: unsubscribed, bounced, blocklisted — never sent again
    REJECTED = "rejected"  # the vendor refused it for another stated reason (bad field value, ...)
    FAILED = "failed"  # its fate is unknown or the vendor gave up: sent again by the next run
    REMOVED = "removed"  # a removal the vendor confirmed (mirror mode); counted apart from the profiles read
