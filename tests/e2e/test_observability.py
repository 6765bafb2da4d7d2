"""Observability of a real run: one span per activity carrying the export and run ids, metrics per
outcome and vendor, structured log records with the same ids — and the credential in none of them.

The OpenTelemetry SDK collects in memory here (the Azure Monitor distro is the same API with an
exporter to App Insights, which cannot be reached from this machine)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.local_env import local_env
from devtools.sample_data import seed_sample
from shared.orchestration.activities import ACTIVITIES

pytestmark = pytest.mark.e2e

CANARY = "SG.canary-credential-7f3a9b.ZZZ-never-log-me"


@pytest.fixture(scope="module")
def collected() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    # Global providers can be set once per process; the telemetry module's proxies bind to them.
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    yield spans, reader


def _metric_points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    points: list[Any] = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


async def test_a_run_is_traced_measured_and_logged_without_the_credential(
    azurite: str, collected: tuple[InMemorySpanExporter, InMemoryMetricReader], caplog: pytest.LogCaptureFixture
) -> None:
    spans, reader = collected
    caplog.set_level(logging.DEBUG)
    with local_env("sendgrid", azurite, simulator_options={"job_delay": 0.1}) as env:
        env.simulator.api_key = CANARY  # the vendor accepts the canary as its key
        env.add_connection(secret=CANARY)
        sample = seed_sample(env.runtime.segments, 800)
        env.add_export()
        instance, report = await env.run("weekly")
    assert report is not None, instance.error

    finished = spans.get_finished_spans()
    activity_spans = [s for s in finished if s.name.startswith("activity ")]
    names = {s.attributes["export.activity"] for s in activity_spans if s.attributes}
    assert names <= set(ACTIVITIES) and {"plan_run", "stage_part", "apply_batches", "commit_run"} <= names
    for span in activity_spans:
        assert span.attributes is not None
        assert span.attributes["export.id"] == "weekly"
        assert span.attributes["export.run_id"] == report.run_id

    upserted = [
        p
        for p in _metric_points(reader, "export.profiles")
        if p.attributes == {"export.outcome": "upserted", "export.vendor": "sendgrid"}
    ]
    assert upserted and sum(p.value for p in upserted) == len(sample.expected)
    assert _metric_points(reader, "export.activity.duration")

    run_records = [r for r in caplog.records if getattr(r, "run_id", None) == report.run_id]
    assert run_records and all(getattr(r, "export_id", None) == "weekly" for r in run_records)

    everything = [str(s.attributes) + str(s.events) + s.name for s in finished]
    everything += [r.getMessage() + str(r.__dict__) for r in caplog.records]
    assert not [text for text in everything if CANARY in text]
