"""The layers hold: import-linter's contracts in pyproject.toml are kept.

The folders install as ``tribeops.<folder>`` through an editable-install finder that
import-linter cannot see, so the check runs on a tree of symlinks shaped like the package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("core", "api", "plugins", "workers", "cli")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--config",
                           str(ROOT / "pyproject.toml")], cwd=tree, env=env, capture_output=True, text=True)


def _package(tree: Path) -> Path:
    package = tree / "tribeops"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    return package


def test_import_contracts_are_kept(tmp_path: Path) -> None:
    package = _package(tmp_path)
    for layer in LAYERS:
        (package / layer).symlink_to(ROOT / layer)
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_importing_litestar_breaks_the_build(tmp_path: Path) -> None:
    package = _package(tmp_path)
    for layer in LAYERS:
        (package / layer).mkdir()
        (package / layer / "__init__.py").write_text("")
    (package / "core" / "leak.py").write_text("import litestar\nfrom tribeops.api import app\n")
    (package / "api" / "app.py").write_text("")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "core knows nothing of the web layer" in result.stdout and "BROKEN" in result.stdout
