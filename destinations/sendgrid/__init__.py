"""SendGrid: ``adapter.SendGridDestination``, ``constants`` (documented facts), ``profile``."""

from destinations.sendgrid.adapter import SendGridDestination
from destinations.sendgrid.constants import (  # noqa: F401 - TEMPORARY: read by simulators/ until h/sim lands
    MAX_BODY_BYTES,
    MAX_CONTACTS,
    RESERVED,
    SEARCH_MAX_EMAILS,
    SUPPRESSION_LISTS,
    rate_bucket_of,
)

__all__ = ["SendGridDestination"]
