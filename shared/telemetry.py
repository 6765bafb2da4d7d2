"""Structured logs that carry the export and run ids. No secret is ever passed to a logger: adapters
keep credentials in their client's headers, and errors are built from names, ids and counts."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

LOGGER = logging.getLogger("segment_export")


class RunLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[export={extra.get('export_id')} run={extra.get('run_id')}] {msg}", kwargs


def run_logger(export_id: str, run_id: str) -> RunLogger:
    return RunLogger(LOGGER, {"export_id": export_id, "run_id": run_id})
