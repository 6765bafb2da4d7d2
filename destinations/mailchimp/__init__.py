"""Mailchimp: ``adapter.MailchimpDestination``, ``constants`` (documented facts), ``profile``."""

from destinations.mailchimp.adapter import (  # noqa: F401 - merge_tags_for, subscriber_hash: simulators/ until h/sim
    MailchimpDestination,
    merge_tags_for,
    subscriber_hash,
)
from destinations.mailchimp.constants import BATCH_MEMBERS  # noqa: F401 - TEMPORARY: simulators/ until h/sim

__all__ = ["MailchimpDestination"]
