"""Stateful loopback simulators of the five vendors, used by tests, the demo and the benchmark."""

from __future__ import annotations

import importlib

from simulators.base import BaseSimulator

REGISTRY: dict[str, str] = {
    "sendgrid": "simulators.sendgrid:SendGridSimulator",
    "mailchimp": "simulators.mailchimp:MailchimpSimulator",
    "brevo": "simulators.brevo:BrevoSimulator",
    "omnisend": "simulators.omnisend:OmnisendSimulator",
    "campaign_monitor": "simulators.campaign_monitor:CampaignMonitorSimulator",
}


def simulator_class(vendor: str) -> type[BaseSimulator]:
    module_name, _, class_name = REGISTRY[vendor].partition(":")
    cls: type[BaseSimulator] = getattr(importlib.import_module(module_name), class_name)
    return cls
