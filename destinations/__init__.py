"""The vendor registry: one package per vendor (``destinations/<vendor>/``), one line here per vendor.

A package holds ``adapter.py`` (the ``Destination`` subclass), ``constants.py`` (the vendor's documented
constants, each with its source) and ``profile.py`` (demo mapping, contract case, benchmark figures).
Packages are imported lazily so a vendor module's import cost (and any error in it) touches only the
exports that use that vendor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from destinations.base import Destination

if TYPE_CHECKING:
    from destinations.profile import VendorProfile

# registry key → "package:adapter class"
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
    package, _, class_name = REGISTRY[vendor].partition(":")
    cls: type[Destination] = getattr(importlib.import_module(f"{package}.adapter"), class_name)
    return cls


def vendor_profile(vendor: str) -> VendorProfile:
    """The vendor's demo mapping, contract case and benchmark figures. Raises KeyError for an unknown vendor."""
    package = REGISTRY[vendor].partition(":")[0]
    profile: VendorProfile = importlib.import_module(f"{package}.profile").PROFILE
    return profile
