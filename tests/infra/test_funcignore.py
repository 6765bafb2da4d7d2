"""A publish ships the app and nothing else. `func azure functionapp publish` and `azd deploy` apply
.funcignore with gitignore rules; pathspec applies the same rules to this worktree here."""

from __future__ import annotations

import os
from pathlib import Path

import pathspec

from tests.infra.templates import ROOT

APP_TOP_LEVEL = {"function_app.py", "host.json", "requirements.txt", "blueprints", "shared", "destinations"}


def shipped(root: Path) -> set[str]:
    spec = pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text().splitlines())
    files = set()
    for directory, dirnames, filenames in os.walk(root):  # symlinked .venv/node_modules: not descended
        relative = Path(directory).relative_to(root)
        dirnames[:] = [d for d in dirnames if d != ".git" and not spec.match_file(f"{relative / d}/")]
        for name in filenames + [d for d in os.listdir(directory) if (Path(directory) / d).is_symlink()]:
            path = (relative / name).as_posix()
            if not spec.match_file(path):
                files.add(path)
    return files


def test_only_the_app_is_published() -> None:
    files = shipped(ROOT)
    top_level = {path.split("/")[0] for path in files}
    assert top_level == APP_TOP_LEVEL, f"would also ship {sorted(top_level - APP_TOP_LEVEL)}"
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_the_app_itself_is_not_ignored() -> None:
    files = shipped(ROOT)
    for needed in ("function_app.py", "host.json", "requirements.txt", "shared/settings.py", "blueprints/exports.py"):
        assert needed in files, needed
    assert any(f.startswith("destinations/") and f.endswith(".py") for f in files)


def test_local_secrets_and_tooling_never_ship(tmp_path: Path) -> None:
    (tmp_path / ".funcignore").write_text((ROOT / ".funcignore").read_text())
    for name in ("local.settings.json", "function_app.py", ".venv-infra/bin/python", "tests/test_x.py", "shared/a.pyc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert shipped(tmp_path) == {"function_app.py"}
