"""Brevo's demo mapping, contract case and benchmark figures (see ``destinations.profile``)."""

from destinations.base import Contact
from destinations.profile import BenchFigures, ContractCase, VendorProfile

PROFILE = VendorProfile(
    demo_mapping={"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone"},
    contract=ContractCase(
        ("first_name", "last_name", "loyalty_points"),
        Contact("points@example.com", {"first_name": "P", "loyalty_points": "lots"}),
        "expects a number",
        fields=(("loyalty_points", "float"),),
    ),
    bench=BenchFigures(latency=0.5, job_delay=5.0, documented_1m="90 min"),
)
