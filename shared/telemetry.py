"""Observability: OpenTelemetry traces, metrics and structured logs, exported by the Azure Monitor distro.

- ``configure()`` turns on ``azure-monitor-opentelemetry`` when App Insights is configured; with local
  auth disabled on the App Insights resource, it authenticates with the app's managed identity
  (``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` = ``ClientId=…;Authorization=AAD``). Without a
  connection string (tests, the demo) the API calls below are no-ops or go to whatever provider a test
  installed, so the code path is the same everywhere.
- One span per activity (``activity_span``), carrying the export id, run id and activity name; every
  log line written inside it carries the same ids as structured fields (custom dimensions in App
  Insights) and in the text.
- Metrics per outcome and per vendor: profiles, vendor requests, 429s, retries, activity seconds.

Nothing secret is ever an attribute: only ids, names, counts, statuses and the vendors' retry hints.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

if TYPE_CHECKING:
    from shared.models import RunReport

LOGGER = logging.getLogger("segment_export")
VENDOR_LOGGER = logging.getLogger("segment_export.vendor")

_tracer = trace.get_tracer("segment_export")
_meter = metrics.get_meter("segment_export")
PROFILES = _meter.create_counter("export.profiles", unit="{profile}", description="profiles per outcome and vendor")
VENDOR_REQUESTS = _meter.create_counter("export.vendor.requests", unit="{request}", description="vendor calls")
VENDOR_THROTTLED = _meter.create_counter("export.vendor.throttled", unit="{request}", description="429 answers")
VENDOR_RETRIES = _meter.create_counter("export.vendor.retries", unit="{retry}", description="vendor call retries")
ACTIVITY_SECONDS = _meter.create_histogram("export.activity.duration", unit="s", description="activity run time")


class RunLogger(logging.LoggerAdapter[logging.Logger]):
    """Adds ``export_id`` and ``run_id`` to every record (structured) and to its text (readable)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[export={extra.get('export_id')} run={extra.get('run_id')}] {msg}", kwargs


def run_logger(export_id: str, run_id: str) -> RunLogger:
    return RunLogger(LOGGER, {"export_id": export_id, "run_id": run_id})


def configure() -> bool:
    """Export to App Insights when it is configured. Never raises: telemetry must not stop the app
    from indexing; a failure is logged and the app runs without export."""
    connection = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if not connection:
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor

        options: dict[str, Any] = {"connection_string": connection, "logger_name": "segment_export"}
        auth = os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "")
        if "Authorization=AAD" in auth:
            from azure.identity import ManagedIdentityCredential

            client_id = next((p.split("=", 1)[1] for p in auth.split(";") if p.startswith("ClientId=")), None)
            options["credential"] = ManagedIdentityCredential(client_id=client_id)
        configure_azure_monitor(**options)
        return True
    except Exception as exc:  # pragma: no cover - depends on the Azure environment
        LOGGER.error("telemetry export is off: %s", type(exc).__name__)
        return False


@contextmanager
def activity_span(activity: str, export_id: str, run_id: str) -> Iterator[RunLogger]:
    """A span and a logger for one activity execution; records its duration and any exception."""
    attributes = {"export.id": export_id, "export.run_id": run_id, "export.activity": activity}
    started = time.monotonic()
    with _tracer.start_as_current_span(f"activity {activity}", attributes=attributes) as span:
        try:
            yield run_logger(export_id, run_id)
        except Exception as exc:
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            ACTIVITY_SECONDS.record(time.monotonic() - started, {"export.activity": activity})


def record_run(report: RunReport) -> None:
    """Profiles per outcome and vendor, once per committed run."""
    for outcome, count in report.outcomes.model_dump().items():
        if count:
            PROFILES.add(count, {"export.outcome": outcome, "export.vendor": report.vendor})


def record_vendor_request(vendor: str, status: int | str) -> None:
    VENDOR_REQUESTS.add(1, {"export.vendor": vendor, "http.status": str(status)})
    if status == 429:
        VENDOR_THROTTLED.add(1, {"export.vendor": vendor})


def record_retry(vendor: str, status: int | str, wait_seconds: float, hint: str | None) -> None:
    """Every retry is counted and logged with the vendor's own hint (Retry-After, reset header, …)."""
    VENDOR_RETRIES.add(1, {"export.vendor": vendor, "http.status": str(status)})
    VENDOR_LOGGER.warning(
        "%s answered %s; retrying in %.2f s (vendor hint: %s)",
        vendor,
        status,
        wait_seconds,
        hint or "none",
        extra={"vendor": vendor, "status": str(status), "retry_in": wait_seconds, "vendor_hint": hint},
    )
