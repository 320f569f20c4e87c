"""docs/plugins.md keeps up with the hook specs: a hook added without its section fails here.

The hooks are read from core/hookspecs.py through pluggy, never listed by hand, so the
check cannot go stale; the tests below the first one prove the check itself can fail.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

from tribeops.core import hookspecs
from tribeops.core.plugins import DEFAULT_PLUGINS

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
HEADING = re.compile(r"^### (\w+)\(([^)]*)\)\s*$", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def hook_specs(module: ModuleType = hookspecs) -> dict[str, tuple[str, ...]]:
    """Every hook specified in ``module``, with its argument names, as pluggy sees them."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(module)
    return {name: tuple(caller.spec.argnames) for name, caller in vars(pm.hook).items()
            if isinstance(caller, pluggy.HookCaller) and caller.spec is not None}


def sections(doc: str) -> dict[str, str]:
    """Each ``### hook(args)`` section's text (up to the next heading), by hook name."""
    found = {}
    matches = list(HEADING.finditer(doc))
    for match, following in zip(matches, [*matches[1:], None]):
        end = following.start() if following else len(doc)
        found[match.group(1)] = doc[match.start():end]
    return found


def undocumented(doc: str, specs: dict[str, tuple[str, ...]]) -> list[str]:
    """The hooks with no ``### name(args)`` heading whose arguments are the spec's, in order."""
    headings = {m.group(1): tuple(a.strip() for a in m.group(2).split(",") if a.strip()) for m in HEADING.finditer(doc)}
    return sorted(name for name, args in specs.items() if headings.get(name) != args)


def incomplete(doc: str, specs: dict[str, tuple[str, ...]]) -> list[str]:
    """The documented hooks whose section lacks a word on sync/async or a ``@hookimpl`` example."""
    bad = []
    for name, text in sections(doc).items():
        if name not in specs:
            continue
        examples = PYTHON_BLOCK.findall(text)
        if "sync" not in text.lower() or not any("@hookimpl" in e and f"def {name}(" in e for e in examples):
            bad.append(name)
    return sorted(bad)


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_every_hook_spec_has_a_section_in_the_guide(guide: str) -> None:
    specs = hook_specs()
    assert specs, "no hook specs found: the enumeration is broken"
    assert undocumented(guide, specs) == [], f"add a '### name(args)' section to {GUIDE}"


def test_every_hook_section_says_sync_or_async_and_shows_an_example(guide: str) -> None:
    assert incomplete(guide, hook_specs()) == []


def test_every_builtin_plugin_is_named_in_the_discovery_section(guide: str) -> None:
    discovery = guide.split("## Discovery", 1)[1].split("\n## ", 1)[0]
    assert [name for name in DEFAULT_PLUGINS if f"`{name}`" not in discovery] == []


def test_every_python_example_in_the_guide_is_valid_python(guide: str) -> None:
    blocks = PYTHON_BLOCK.findall(guide)
    assert len(blocks) >= len(hook_specs())
    for block in blocks:
        compile(block, str(GUIDE), "exec")


def test_the_check_reports_a_hook_whose_section_is_missing(guide: str) -> None:
    for name in hook_specs():
        without = re.sub(rf"^### {name}\(.*$", "### something else", guide, flags=re.MULTILINE)
        assert undocumented(without, hook_specs()) == [name]


def test_the_check_reports_a_section_whose_arguments_are_wrong(guide: str) -> None:
    name, args = next((n, a) for n, a in hook_specs().items() if a)
    renamed = guide.replace(f"### {name}({', '.join(args)})", f"### {name}({', '.join(args)}, extra)")
    assert undocumented(renamed, hook_specs()) == [name]


def test_the_check_sees_a_hook_added_to_the_specs(guide: str) -> None:
    extended = ModuleType("extended_hookspecs")
    for name in dir(hookspecs):
        value: Any = getattr(hookspecs, name)
        if hasattr(value, f"{hookspecs.PROJECT}_spec"):
            setattr(extended, name, value)

    @hookspecs.hookspec
    def brand_archived(workspace_id: str, brand_id: str) -> None:
        """A hook nobody documented yet."""

    extended.brand_archived = brand_archived  # type: ignore[attr-defined]
    assert set(hook_specs(extended)) == set(hook_specs()) | {"brand_archived"}
    assert undocumented(guide, hook_specs(extended)) == ["brand_archived"]


def test_the_completeness_check_reports_a_section_without_an_example(guide: str) -> None:
    name = next(iter(hook_specs()))
    section = sections(guide)[name]
    stripped = guide.replace(section, PYTHON_BLOCK.sub("", section))
    assert incomplete(stripped, hook_specs()) == [name]


def test_the_guide_gives_the_current_plugin_api_version() -> None:
    from tribeops.core.plugin_api import PLUGIN_API_VERSION

    assert f'the API version (`"{PLUGIN_API_VERSION}"`)' in GUIDE.read_text()


@pytest.mark.parametrize(("wanted", "works"), [("1.0", True), ("1.1", True), ("1.2", True), ("1.3", False),
                                               ("2.0", False), ("0.9", False)])
def test_require_api_accepts_older_minor_versions_of_this_major(wanted: str, works: bool) -> None:
    from tribeops.core.plugin_api import require_api

    if works:
        require_api(wanted)
    else:
        with pytest.raises(RuntimeError, match=f"needs tribeops plugin API {wanted}; this tribeops has 1.2"):
            require_api(wanted)
