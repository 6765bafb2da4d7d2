"""The vendor registry: one module per vendor, one line here per vendor.

Classes are imported lazily so a vendor module's import cost (and any error in it) touches only the
exports that use that vendor.
"""

from __future__ import annotations

import importlib

from destinations.base import Destination

REGISTRY: dict[str, str] = {
    "sendgrid": "destinations.sendgrid:SendGridDestination",
    "mailchimp": "destinations.mailchimp:MailchimpDestination",
    "brevo": "destinations.brevo:BrevoDestination",
    "omnisend": "destinations.omnisend:OmnisendDestination",
    "campaign_monitor": "destinations.campaign_monitor:CampaignMonitorDestination",
}


def vendors() -> list[str]:
    return list(REGISTRY)


def destination_class(vendor: str) -> type[Destination]:
    """The adapter class for a registry key. Raises KeyError for an unknown vendor."""
    module_name, _, class_name = REGISTRY[vendor].partition(":")
    cls: type[Destination] = getattr(importlib.import_module(module_name), class_name)
    return cls
