"""Reading a list back through each vendor's read endpoints (simulators/readback.py) agrees with the
simulator's state, including the contacts that left by unsubscribing."""

from __future__ import annotations

import pytest

from simulators import REGISTRY, simulator_class
from simulators.readback import read_back

UNSUBSCRIBED = {
    "sendgrid": "unsubscribed",
    "brevo": "blocklisted",
    "omnisend": "unsubscribed",
    "mailchimp": "unsubscribed",
    "campaign_monitor": "unsubscribed",
}


@pytest.mark.parametrize("vendor", sorted(REGISTRY))
def test_read_back_through_the_vendor_api(vendor: str) -> None:
    with simulator_class(vendor)() as sim:
        target = sim.create_target()
        members = [f"m{i:04d}@example.com" for i in range(1_203)]  # more than one page everywhere
        for email in members:
            sim.add_member(email, target, {"first_name": "M"})
        sim.suppress("left@example.com", target)
        emails = [*members, "left@example.com", "never@example.com"]
        found = read_back(vendor, sim.url, sim.api_key, target, emails)
        assert found == {
            **dict.fromkeys(members, "subscribed" if vendor != "campaign_monitor" else "active"),
            "left@example.com": UNSUBSCRIBED[vendor],
        }
        assert set(sim.members(target)) == set(members)
