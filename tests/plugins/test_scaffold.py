"""``tribeops plugins new`` and the example plugin, end to end: scaffold, pip install, discover, test.

The install tests put two real distributions into the running virtualenv (the scaffolded
``tribeops-scaffold-probe`` and a copy of ``examples/tribeops-thanks``) so that discovery goes
through real entry points. They share one module-scoped installation that is removed in a
``finally`` when the module ends (and before it starts, in case a killed run left it
behind), so no other test module ever runs with them installed. Installing from copies keeps
build artefacts out of the repository.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from tribeops.api.app import create_app
from tribeops.cli.main import main
from tribeops.cli.scaffold import scaffold
from tribeops.core.settings import Settings

from .kit import catalogue, post_events, serve, stored_events

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tribeops-thanks"
PROBE = "scaffold-probe"
DISTRIBUTIONS = {"tribeops-scaffold-probe": "tribeops_scaffold_probe", "tribeops-thanks": "tribeops_thanks"}
SWITCHES = ("TRIBEOPS_LOAD_PLUGINS", "TRIBEOPS_DISABLE_PLUGINS", "PYTEST_ADDOPTS")


def _env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: the developer's plugin switches removed, ``extra`` added."""
    return {**{k: v for k, v in os.environ.items() if k not in SWITCHES}, **extra}


def _run(command: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=600)


def _tribeops(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "tribeops"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tribeops.cli.main"]
    return _run([*command, *args], **env)


def _builds_offline() -> bool:
    """Whether setuptools can build a wheel without fetching anything (``--no-build-isolation``)."""
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return importlib.util.find_spec("wheel") is not None or (major, minor) >= (70, 1)


def _uninstall() -> None:
    importlib.invalidate_caches()
    present = []
    for name in DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
            present.append(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    if present:
        result = _run([sys.executable, "-m", "pip", "uninstall", "--yes", *present])
        assert result.returncode == 0, result.stdout + result.stderr
    for module in list(sys.modules):
        if module.split(".")[0] in DISTRIBUTIONS.values():
            del sys.modules[module]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    work = tmp_path_factory.mktemp("plugin-packages")
    packages = {
        "scaffold": scaffold(PROBE, work),
        "example": Path(shutil.copytree(EXAMPLE, work / EXAMPLE.name, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", ".pytest_cache"))),
    }
    _uninstall()
    try:
        flags = ["--no-build-isolation"] if _builds_offline() else []
        result = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", *flags,
                       *(str(path) for path in packages.values())])
        assert result.returncode == 0, result.stdout + result.stderr
        importlib.invalidate_caches()
        yield packages
    finally:
        _uninstall()


@pytest.fixture
def settings(tribeops_settings: Settings) -> Settings:
    return msgspec.structs.replace(tribeops_settings, load_plugins=None, disable_plugins=None)


def test_the_scaffold_is_a_package_with_its_entry_point_and_tests(tmp_path: Path) -> None:
    target = scaffold("reply-time", tmp_path)
    assert target == tmp_path / "tribeops-reply-time"
    project = tomllib.loads((target / "pyproject.toml").read_text())["project"]
    assert project["name"] == "tribeops-reply-time" and any(d.startswith("tribeops") for d in project["dependencies"])
    assert project["entry-points"]["tribeops"] == {"reply-time": "tribeops_reply_time"}
    assert (target / "README.md").read_text().count("pytest") >= 1
    assert (target / "tests" / "test_reply_time.py").is_file()
    source = (target / "tribeops_reply_time" / "__init__.py").read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert {m for m in imported if m and m.startswith("tribeops")} == {"tribeops.core.plugin_api"}
    assert 'require_api("1.2")' in source
    for path in target.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize("name", ["", "Thanks", "1st", "my plugin", "a--b", "-a", "a_", "x" * 41, "../up", "é"])
def test_names_that_cannot_name_a_plugin_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a plugin"):
        scaffold(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "tribeops-thanks").mkdir()
    (tmp_path / "tribeops-thanks" / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="already exists"):
        scaffold("thanks", tmp_path)
    assert [p.name for p in (tmp_path / "tribeops-thanks").iterdir()] == ["mine.txt"]


def test_plugins_new_scaffolds_and_explains_bad_names(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["plugins", "new", "probe", "--directory", str(tmp_path)])
    assert made.exit_code == 0 and (tmp_path / "tribeops-probe" / "pyproject.toml").is_file(), made.output
    refused = runner.invoke(main, ["plugins", "new", "Bad Name", "--directory", str(tmp_path)])
    assert refused.exit_code == 2 and "cannot name a plugin" in refused.output
    again = runner.invoke(main, ["plugins", "new", "probe", "--directory", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_plugins_list_shows_the_installed_plugins(installed: dict[str, Path]) -> None:
    result = _tribeops("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert listed[PROBE]["registered"] == {"enrichers": ["scaffold_probe_questions"],
                                           "metrics": ["scaffold_probe_question_rate"]}
    assert listed["thanks"]["registered"] == {"enrichers": ["gratitude"], "metrics": ["gratitude_share"]}
    for name in (PROBE, "thanks"):
        assert (listed[name]["version"], listed[name]["builtin"], listed[name]["errors"]) == ("0.1.0", False, [])


@pytest.mark.parametrize(("env", "expected"), [
    ({"TRIBEOPS_LOAD_PLUGINS": ""}, set()),
    ({"TRIBEOPS_LOAD_PLUGINS": "tribeops-thanks"}, {"thanks"}),  # a distribution name works too
    ({"TRIBEOPS_DISABLE_PLUGINS": "thanks"}, {PROBE}),
])
def test_the_switches_apply_to_installed_plugins(installed: dict[str, Path], env: dict[str, str],
                                                 expected: set[str]) -> None:
    result = _tribeops("plugins", "list", "--json", **env)
    assert result.returncode == 0, result.stderr
    assert {entry["name"] for entry in json.loads(result.stdout)} & {PROBE, "thanks"} == expected


def test_a_fresh_app_discovers_them_through_their_entry_points(installed: dict[str, Path], settings: Settings,
                                                               tribeops_headers: dict[str, str]) -> None:
    with serve(settings) as client:  # no plugin handed over: discovery only
        metrics = catalogue(client, tribeops_headers, "metrics")
        brand = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "@acme"}}, headers=tribeops_headers)
        item: dict[str, Any] = {"id": "evt-thanks", "brand_id": brand.json()["id"], "network": "x", "kind": "comment",
                                "actor": {"id": "1", "handle": "anna"}, "occurred_at": "2026-03-01T10:00:00Z",
                                "text": "Grazie! When is it back?"}
        assert post_events(client, tribeops_headers, [item])["accepted"] == 1
    assert metrics["scaffold_probe_question_rate"]["plugin"] == PROBE
    assert metrics["gratitude_share"]["plugin"] == "thanks"
    row = stored_events(settings)["evt-thanks"]
    assert row.enrichment["gratitude"] is True and row.enrichment["scaffold_probe_question"] is True
    assert row.enrichment_errors is None


@pytest.mark.parametrize("package", ["scaffold", "example"])
def test_the_packages_own_tests_pass(installed: dict[str, Path], package: str) -> None:
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=installed[package])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_the_openapi_document_does_not_depend_on_installed_plugins(installed: dict[str, Path]) -> None:
    with_plugins = create_app(Settings()).state.openapi_document
    without = create_app(Settings(load_plugins="")).state.openapi_document
    assert with_plugins == without
