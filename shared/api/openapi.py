"""Write (or ``--check``) the committed OpenAPI document: ``python -m shared.api.openapi [--check]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.api.app import make_app

COMMITTED = Path(__file__).resolve().parents[2] / "api" / "openapi.json"


def generated() -> dict[str, Any]:
    return make_app().openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(generated())
    if "--check" in argv:
        if not COMMITTED.exists() or COMMITTED.read_text(encoding="utf-8") != text:
            print(f"{COMMITTED} differs from the generated document: run python -m shared.api.openapi")
            return 1
        return 0
    COMMITTED.write_text(text, encoding="utf-8")
    print(f"wrote {COMMITTED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
