"""Structured logs that carry the export and run ids. No secret is ever passed to a logger: adapters
keep credentials in their client's headers, and errors are built from names, ids and counts."""

from __future__ import annotations

import logging

LOGGER = logging.getLogger("segment_export")


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: object, kwargs: dict) -> tuple[object, dict]:  # type: ignore[type-arg]
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[export={extra.get('export_id')} run={extra.get('run_id')}] {msg}", kwargs


def run_logger(export_id: str, run_id: str) -> RunLogger:
    return RunLogger(LOGGER, {"export_id": export_id, "run_id": run_id})
