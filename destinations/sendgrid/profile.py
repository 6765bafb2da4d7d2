"""SendGrid's demo mapping, contract case and benchmark figures (see ``destinations.profile``)."""

from destinations.base import Contact
from destinations.profile import BenchFigures, ContractCase, VendorProfile

PROFILE = VendorProfile(
    demo_mapping={
        "email": "email",
        "first_name": "first_name",
        "last_name": "last_name",
        "city": "city",
        "country": "country",
    },
    contract=ContractCase(
        ("first_name", "last_name"), Contact("long@example.com", {"first_name": "N" * 60}), "50 characters"
    ),
    bench=BenchFigures(latency=0.8, job_delay=5.0, documented_1m="a few hours (100k)"),
)
