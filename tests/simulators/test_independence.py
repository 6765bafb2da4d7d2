"""The simulators are written apart from the adapters they check: no module under ``simulators/``
imports ``destinations`` (a wrong assumption in an adapter must not be confirmed by construction)."""

from __future__ import annotations

import ast
from pathlib import Path

SIMULATORS = Path(__file__).resolve().parents[2] / "simulators"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names.update(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return names


def test_no_simulator_module_imports_destinations() -> None:
    modules = sorted(SIMULATORS.rglob("*.py"))
    assert len(modules) >= 6, "the simulators package was not found"
    offenders = {
        str(path.relative_to(SIMULATORS.parent)): sorted(
            m for m in imported_modules(path) if m == "destinations" or m.startswith("destinations.")
        )
        for path in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_an_import_of_destinations(tmp_path: Path) -> None:
    # The walk itself must catch each spelling, or the test above could pass vacuously.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import destinations.base\nfrom destinations.sendgrid import X\nimport importlib\n"
        "importlib.import_module('destinations.brevo')\n",
        encoding="utf-8",
    )
    assert {"destinations.base", "destinations.sendgrid", "destinations.brevo"} <= imported_modules(sample)
