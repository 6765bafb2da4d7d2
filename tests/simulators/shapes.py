"""Pinned response shapes (vendor_specs/<vendor>/pinned_shapes.json) for the vendors without a usable
official spec, checked with jsonschema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPECS = Path(__file__).resolve().parents[2] / "vendor_specs"


@cache
def _document(vendor: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPECS / vendor / "pinned_shapes.json").read_text(encoding="utf-8"))
    return loaded


def violations(vendor: str, shape: str, body: Any) -> list[str]:
    """What in ``body`` does not match the pinned ``shape`` of ``vendor`` (empty: it matches)."""
    document = _document(vendor)
    if shape not in document["shapes"]:
        raise KeyError(f"no pinned shape {shape!r} for {vendor}")
    # The shapes refer to each other as "#/shapes/…": the document itself is the root being validated with.
    validator = Draft202012Validator({**document, "$ref": f"#/shapes/{shape}"})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
