"""``prepare()`` once per run: what it learnt (``prepared_state``) restored into a fresh adapter
(``restore_prepared``) makes that adapter encode and upsert exactly as a prepared one, without a request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from pydantic import SecretStr

from destinations import destination_class
from destinations.base import BatchResult, Contact, Credential, Destination, Outcome, Target
from simulators import simulator_class
from simulators.base import BaseSimulator

# Every vendor whose adapter has a prepare(): a custom field it maps (name, vendor type) and contacts
# whose encoding or upsert depends on what prepare() learns.
FIELD = {
    "sendgrid": ("loyalty_tier", "Text"),  # encoded under its field id
    "brevo": ("loyalty_points", "float"),  # a value that is not a number is refused before sending
    "campaign_monitor": ("loyalty_tier", "Text"),  # prepare() only checks the field: its state is when
}
ATTRIBUTES = ("first_name", "last_name")


def contacts(field: str) -> list[Contact]:
    return [
        Contact("ada@example.com", {"first_name": "Ada", "last_name": "Lovelace", field: "12.5"}),
        Contact("bob@example.com", {"first_name": "Bob", field: "not a number"}),
        Contact("cy@example.com", {"last_name": "Young"}),
    ]


@pytest.fixture(params=sorted(FIELD))
def vendor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sim(vendor: str) -> Iterator[BaseSimulator]:
    with simulator_class(vendor)(job_delay=0.01) as simulator:
        yield simulator


def make(vendor: str, sim: BaseSimulator, client: httpx.AsyncClient, target: str) -> Destination:
    return destination_class(vendor)(
        client=client,
        credential=Credential(SecretStr(sim.api_key)),
        target=Target(list_id=target, mapped_attributes=(*ATTRIBUTES, FIELD[vendor][0])),
        base_url=sim.url,
    )


def new_target(vendor: str, sim: BaseSimulator) -> str:
    target = sim.create_target()
    sim.create_field(*FIELD[vendor])  # type: ignore[call-arg]  # after the list: some vendors keep fields per list
    return target


async def upsert_requests(
    sim: BaseSimulator, dest: Destination, batch: list[Contact], encoded: list[bytes]
) -> tuple[list[tuple[str, str, bytes]], BatchResult]:
    """The requests one upsert sends (method, path, body) and its answer."""
    before = len(sim.requests)
    result = await dest.upsert(batch, encoded)
    return [(r.method, r.path, r.body) for r in sim.requests[before:]], result


def verdicts(result: BatchResult) -> object:
    """What an upsert decided per row before the vendor answered (jobs) or per row (synchronous)."""
    if result.job is not None:
        return result.job.get("verdicts")
    assert result.results is not None
    return [(r.email, r.outcome, r.reason) for r in result.results]


async def test_a_restored_adapter_encodes_and_upserts_exactly_as_a_prepared_one(
    vendor: str, sim: BaseSimulator, client: httpx.AsyncClient
) -> None:
    target = new_target(vendor, sim)
    batch = contacts(FIELD[vendor][0])

    prepared = make(vendor, sim, client, target)
    await prepared.prepare()
    state = orjson.loads(orjson.dumps(prepared.prepared_state()))  # as stored with the run
    assert sim.api_key not in orjson.dumps(state).decode()

    restored = make(vendor, sim, client, target)
    sent_before = len(sim.requests)
    restored.restore_prepared(state)
    await restored.prepare()  # after a restore, learning again costs nothing
    assert len(sim.requests) == sent_before

    encoded = [prepared.encode_contact(c) for c in batch]
    assert [restored.encode_contact(c) for c in batch] == encoded
    first, first_result = await upsert_requests(sim, prepared, batch, encoded)
    second, second_result = await upsert_requests(sim, restored, batch, encoded)
    assert first == second and len(first) == 1
    assert verdicts(first_result) == verdicts(second_result)
    assert restored.prepared_state() == state


async def test_what_prepare_learns_changes_the_requests(
    vendor: str, sim: BaseSimulator, client: httpx.AsyncClient
) -> None:
    """The round trip above is not vacuous: without prepare (or its state) the adapter behaves otherwise."""
    target = new_target(vendor, sim)
    batch = contacts(FIELD[vendor][0])
    prepared = make(vendor, sim, client, target)
    await prepared.prepare()
    state = prepared.prepared_state()
    fresh = make(vendor, sim, client, target)
    assert fresh.prepared_state() == {}
    if vendor == "sendgrid":
        assert list(state) == ["field_ids"] and FIELD[vendor][0] in state["field_ids"]
        with pytest.raises(RuntimeError, match="prepare"):
            fresh.encode_contact(batch[0])
    elif vendor == "brevo":
        assert state == {"attribute_types": {"first_name": "text", "last_name": "text", "loyalty_points": "float"}}
        encoded = [prepared.encode_contact(c) for c in batch]
        _, unprepared = await upsert_requests(sim, fresh, batch, encoded)
        _, knowing = await upsert_requests(sim, prepared, batch, encoded)
        assert "bob@example.com" not in verdicts(unprepared)  # type: ignore[operator]
        assert verdicts(knowing)["bob@example.com"][0] == Outcome.REJECTED.value  # type: ignore[index]
    else:  # Campaign Monitor: when the fields were found, so a later activity need not ask again at once
        assert list(state) == ["fields_checked_at"]
        knowing = make(vendor, sim, client, target)
        knowing.restore_prepared(state)
        before = len(sim.requests)
        await knowing.prepare()
        assert len(sim.requests) == before
        await fresh.prepare()  # without the state, the fields are asked for
        assert len(sim.requests) == before + 1


async def test_a_state_that_does_not_fit_the_mapping_is_ignored(
    vendor: str, sim: BaseSimulator, client: httpx.AsyncClient
) -> None:
    target = new_target(vendor, sim)
    dest = make(vendor, sim, client, target)
    dest.restore_prepared({})
    dest.restore_prepared({"field_ids": {"first_name": "w1"}, "attribute_types": {"last_name": "text"}})  # partial
    assert dest.prepared_state() == {}
    await dest.prepare()  # so prepare() still learns it
    assert dest.prepared_state() != {}
