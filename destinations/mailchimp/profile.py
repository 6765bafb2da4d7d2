"""Mailchimp's demo mapping, contract case and benchmark figures (see ``destinations.profile``)."""

from destinations.base import Contact
from destinations.profile import BenchFigures, ContractCase, VendorProfile

PROFILE = VendorProfile(
    demo_mapping={"email": "email", "first_name": "first_name", "last_name": "last_name"},
    contract=ContractCase(
        ("first_name", "last_name"), Contact("someone@example.test", {"first_name": "Fake"}), "looks fake"
    ),
    bench=BenchFigures(latency=2.0, documented_1m="3 h"),
)
