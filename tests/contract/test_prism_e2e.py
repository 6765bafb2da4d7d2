"""A whole export — pre-flight, suppression read-back, upserts, job polls, a refresh — with every vendor
call routed through ``prism proxy --errors`` and the official spec (SendGrid, Brevo, Omnisend): the
adapters' requests and the simulators' answers in a real run, not only in the contract cases, hold 0
violations. Counts join the Prism summary printed at the end of the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import devtools.prism as prism_module
from devtools.local_env import local_env
from devtools.prism import PrismProxy
from devtools.sample_data import seed_sample
from shared.models import RunStatus
from tests.contract.conftest import PRISM_COUNTS
from tests.contract.test_prism import SpecRouter, corrected_spec

pytestmark = pytest.mark.e2e

TIME_SCALE = 0.1
SETTINGS = {
    "rows_per_partition": 1000,
    "first_poll_seconds": 0.2,
    "max_poll_seconds": 0.5,
    "vendor_time_scale": TIME_SCALE,
}


@pytest.fixture(params=["sendgrid", "brevo", "omnisend"])
def vendor(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


async def test_a_whole_export_through_prism_has_no_violations(azurite: str, vendor: str) -> None:
    options = {"job_delay": 0.05, "time_scale": TIME_SCALE}
    with local_env(vendor, azurite, simulator_options=options, settings=SETTINGS) as env:
        proxy = PrismProxy(vendor, env.simulator.url)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(prism_module, "merged_spec", corrected_spec)
            proxy.start()
        routers: list[SpecRouter] = []

        def through_prism() -> SpecRouter:
            router = SpecRouter(vendor, proxy.url)
            routers.append(router)
            return router

        env.runtime.transport_factory = through_prism
        try:
            env.add_connection()
            sample = seed_sample(env.runtime.segments, 400)
            env.add_export()
            instance, report = await env.run("weekly")
            assert report is not None and report.status is RunStatus.SUCCEEDED, instance.error or report.errors
            assert report.outcomes.upserted == len(sample.expected)
            _, again = await env.run("weekly", full_resync=True)
            assert again is not None and again.status is RunStatus.SUCCEEDED, again.errors

            requests, responses = proxy.request_violations(), proxy.response_violations()
            served = proxy.requests_served()
        finally:
            proxy.stop()
        counts = PRISM_COUNTS.setdefault(f"{vendor} (whole export)", [0, 0, 0, 0])
        counts[0] += served
        counts[1] += len(requests)
        counts[2] += len(responses)
        counts[3] += sum(r.outside for r in routers)
        assert served > 0
        assert requests == [], requests
        assert responses == [], responses
