"""Campaign Monitor's demo mapping, contract case and benchmark figures (see ``destinations.profile``)."""

from destinations.base import Contact
from destinations.profile import BenchFigures, ContractCase, VendorProfile

PROFILE = VendorProfile(
    demo_mapping={"email": "email", "first_name": "first_name", "last_name": "last_name", "city": "city"},
    contract=ContractCase(
        ("first_name", "last_name"),
        Contact("someone@example.test", {"first_name": "Fake"}),
        "Invalid Email Address",
    ),
    bench=BenchFigures(latency=1.0, documented_1m="20 min"),
)
