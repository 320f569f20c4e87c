"""Discovery: one path for built-in and third-party plugins, the two environment switches, and
the mistakes that must stop start-up (a misspelt hook, a name claimed twice) naming the plugins."""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from click.testing import CliRunner
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core import plugins as core_plugins
from tribeops.core.alerts import deliver
from tribeops.core.plugin_api import Alert, Metric
from tribeops.cli.main import main
from tribeops.core.plugins import DEFAULT_PLUGINS, PluginLoadError, create_manager
from tribeops.core.settings import Settings
from tribeops.testing.events import EventBuilder

from .kit import (
    EchoConnector,
    alert_sink,
    catalogue,
    enricher,
    event_kind,
    fake_entry_points,
    metric,
    plugin,
    post_events,
    registering,
    serve,
    stored_events,
)

BUILTIN_SHORT = {name: name.rsplit(".", 1)[1] for name in DEFAULT_PLUGINS}


@pytest.fixture(autouse=True)
def plugin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the two switches themselves; the developer's environment must not."""
    monkeypatch.delenv("TRIBEOPS_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("TRIBEOPS_DISABLE_PLUGINS", raising=False)


@pytest.fixture
def settings(tribeops_settings: Settings) -> Settings:
    """The shipped settings, with whatever the developer's environment says about plugins cleared."""
    return msgspec.structs.replace(tribeops_settings, load_plugins=None, disable_plugins=None)


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two installed third-party plugins, ``third`` and ``other``, as entry points of group ``tribeops``."""
    monkeypatch.setitem(sys.modules, "fake_third", plugin("fake_third", **registering(metrics=metric("third_metric"))))
    monkeypatch.setitem(sys.modules, "fake_other", plugin("fake_other", **registering(metrics=metric("other_metric"))))
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points(third="fake_third", other="fake_other"))


def test_builtins_and_third_party_plugins_are_registered_by_the_same_code(
        monkeypatch: pytest.MonkeyPatch, third_party: None, settings: Settings, tribeops_headers: dict[str, str]) -> None:
    seen: list[tuple[str, bool]] = []
    register = core_plugins._register

    def spy(pm: Any, registry: Any, obj: Any, name: str, version: str | None, builtin: bool) -> None:
        seen.append((name, builtin))
        register(pm, registry, obj, name, version, builtin)

    monkeypatch.setattr(core_plugins, "_register", spy)
    extra = plugin("extra_plugin", **registering(metrics=metric("extra_metric")))
    with serve(settings, [extra]) as client:
        listed = catalogue(client, tribeops_headers, "plugins")
        metrics = catalogue(client, tribeops_headers, "metrics")
    assert seen == [(name, True) for name in DEFAULT_PLUGINS] + [
        ("third", False), ("other", False), ("extra_plugin", False)]
    assert set(listed) == {*DEFAULT_PLUGINS, "third", "other", "extra_plugin"}
    assert [listed[name]["builtin"] for name in DEFAULT_PLUGINS] == [True] * len(DEFAULT_PLUGINS)
    assert listed["third"]["builtin"] is False and listed["third"]["registered"] == {"metrics": ["third_metric"]}
    assert {metrics[m]["plugin"] for m in ("third_metric", "other_metric", "extra_metric")} == {
        "third", "other", "extra_plugin"}


def test_an_empty_load_list_loads_no_third_party_plugin(monkeypatch: pytest.MonkeyPatch, third_party: None,
                                                        settings: Settings, tribeops_headers: dict[str, str]) -> None:
    monkeypatch.setenv("TRIBEOPS_LOAD_PLUGINS", "")
    from_env = Settings.from_env(database_url=settings.database_url)
    assert from_env.load_plugins == ""
    with serve(from_env) as client:
        assert set(catalogue(client, tribeops_headers, "plugins")) == set(DEFAULT_PLUGINS)


@pytest.mark.parametrize(("load", "expected"), [(None, {"third", "other"}), ("third", {"third"}),
                                                (" other , third ", {"other", "third"}), ("", set())])
def test_the_load_list_names_the_third_party_plugins_to_load(third_party: None, load: str | None,
                                                             expected: set[str]) -> None:
    _, registry = create_manager(load, None)
    assert set(registry.plugins) == set(DEFAULT_PLUGINS) | expected


@pytest.mark.parametrize(("load", "disable", "named"), [
    (" other , nobdy ", None, "TRIBEOPS_LOAD_PLUGINS names 'nobdy', not an installed plugin"),
    (None, "scorng", "TRIBEOPS_DISABLE_PLUGINS names 'scorng', not an installed plugin"),
])
def test_a_plugin_list_naming_no_installed_plugin_stops_start_up(third_party: None, load: str | None,
                                                                 disable: str | None, named: str) -> None:
    with pytest.raises(PluginLoadError, match=named) as raised:
        create_manager(load, disable)
    assert "installed: other, third" in str(raised.value)


@pytest.mark.parametrize("disable", [
    *BUILTIN_SHORT.values(), *DEFAULT_PLUGINS, "third", "extra_plugin", ",".join([*BUILTIN_SHORT.values(), "third"])])
def test_the_disable_list_skips_plugins_by_name_builtins_included(monkeypatch: pytest.MonkeyPatch, third_party: None,
                                                                  disable: str) -> None:
    monkeypatch.setenv("TRIBEOPS_DISABLE_PLUGINS", disable)
    settings = Settings.from_env()
    extra = plugin("extra_plugin", **registering(metrics=metric("extra_metric")))
    _, registry = create_manager(settings.load_plugins, settings.disable_plugins, [extra])
    names = {part.strip() for part in disable.split(",")}
    skipped = {n for n in [*DEFAULT_PLUGINS, "third", "other", "extra_plugin"]
               if n in names or BUILTIN_SHORT.get(n) in names}
    assert skipped and set(registry.plugins) == {*DEFAULT_PLUGINS, "third", "other", "extra_plugin"} - skipped


@pytest.mark.parametrize("hooks", [
    {"register_metric": lambda register: None},  # a hook that does not exist
    {"register_metrics": lambda reg: None},  # a hook whose argument is misspelt
])
def test_a_misspelt_hook_stops_start_up_naming_the_plugin(settings: Settings, hooks: dict[str, Any]) -> None:
    typo = plugin("typo_plugin", **hooks)
    with pytest.raises(PluginLoadError, match="typo_plugin"):
        create_manager("", None, [typo])
    with pytest.raises(PluginLoadError, match="typo_plugin"):
        create_app(settings, plugins=[typo])


def test_a_misspelt_hook_in_an_installed_plugin_is_named_after_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fake_typo", plugin("fake_typo", register_enricher=lambda register: None))
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points(typo="fake_typo"))
    with pytest.raises(PluginLoadError, match="'typo'"):
        create_manager(None, None)


@pytest.mark.parametrize(("item", "problem"), [
    ({"name": "dict"}, "expected a Metric, got dict"),
    (Metric(name="Bad-Name", family="relationship", description="-", formula="-", unit="-", compute=print),
     "Metric name 'Bad-Name' must match"),
    (Metric(name="engaged", family="engagement", description="-", formula="-", unit="-",  # type: ignore[arg-type]
            compute=print), "metric 'engaged': family 'engagement' is not one of"),
])
def test_a_malformed_registration_stops_start_up_naming_the_plugin_and_the_cli_says_it_in_a_line(
        monkeypatch: pytest.MonkeyPatch, item: Any, problem: str) -> None:
    monkeypatch.setitem(sys.modules, "fake_agency", plugin("fake_agency", **registering(metrics=item)))
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points(agency="fake_agency"))
    with pytest.raises(PluginLoadError) as caught:
        create_manager(None, None)
    assert str(caught.value).startswith("plugin 'agency', register_metrics: ") and problem in str(caught.value)
    for command in (["worker"], ["demo"]):  # stopped before any server or database is reached
        result = CliRunner().invoke(main, command, env={"TRIBEOPS_REDIS_URL": "redis://127.0.0.1:1/0"})
        assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
        assert result.output.startswith("Error: a plugin stops start-up: plugin 'agency'"), result.output
        assert "Traceback" not in result.output


def test_an_installed_plugin_that_cannot_be_imported_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points(ghost="no_such_module_anywhere"))
    with pytest.raises(PluginLoadError, match="'ghost'.*failed to import"):
        create_manager(None, None)


@pytest.mark.parametrize(("what", "make"), [
    ("metrics", lambda: metric("shared")),
    ("enrichers", lambda: enricher("shared", lambda event: {})),
    ("event_kinds", lambda: event_kind("shared")),
    ("alert_sinks", lambda: alert_sink("shared", lambda alert: None)),
    ("connectors", lambda: EchoConnector),
])
def test_a_name_registered_by_two_plugins_stops_start_up_naming_both(settings: Settings, what: str,
                                                                     make: Any) -> None:
    first = plugin("first_plugin", **registering(**{what: make()}))
    second = plugin("second_plugin", **registering(**{what: make()}))
    for start in (lambda: create_manager("", None, [first, second]),
                  lambda: create_app(settings, plugins=[first, second])):
        with pytest.raises(PluginLoadError) as caught:
            start()
        assert "'first_plugin'" in str(caught.value) and "'second_plugin'" in str(caught.value)
    twice = plugin("first_plugin", **registering(**{what: [make(), make()]}))
    with pytest.raises(PluginLoadError, match="'(shared|echo)' is registered twice by 'first_plugin'$"):
        create_manager("", None, [twice])


def test_two_plugins_with_one_name_stop_start_up(monkeypatch: pytest.MonkeyPatch, third_party: None) -> None:
    with pytest.raises(PluginLoadError, match="two plugins are named 'third'"):
        create_manager(None, None, [plugin("third")])


def test_each_runtime_gets_a_fresh_manager_and_registry(settings: Settings) -> None:
    def failing(register: Any) -> None:
        register(metric("only_here"))
        raise RuntimeError("half registered")

    once = plugin("once_plugin", register_metrics=failing)
    first, bare, again = (create_app(settings, plugins=[once]), create_app(settings),
                          create_app(settings, plugins=[once]))  # the same object again: refused by a shared manager
    runtimes = [app.state.tribeops.core for app in (first, bare, again)]
    assert len({id(r.pm) for r in runtimes}) == 3 and len({id(r.registry) for r in runtimes}) == 3
    assert "only_here" in runtimes[0].registry.metrics and "only_here" not in runtimes[1].registry.metrics
    errors = [r.registry.plugins["once_plugin"].errors for r in (runtimes[0], runtimes[2])]
    assert errors == [["register_metrics raised RuntimeError: half registered"]] * 2  # not accumulated


class Recorder:
    """A plugin implementing every hook, keeping what the notification hooks and the sink receive."""

    def __init__(self) -> None:
        self.startups: list[Any] = []
        self.ingested: list[tuple[str, list[str], list[str]]] = []
        self.alerts: list[Alert] = []

    def module(self) -> ModuleType:
        def startup(runtime: Any) -> None:
            self.startups.append(runtime)

        async def events_ingested(workspace_id: str, brand_ids: list[str], event_ids: list[str]) -> None:
            self.ingested.append((workspace_id, list(brand_ids), list(event_ids)))

        return plugin("recording", startup=startup, events_ingested=events_ingested, **registering(
            connectors=EchoConnector, metrics=metric("recorded_metric"), event_kinds=event_kind("unboxing"),
            enrichers=enricher("shout", lambda event: {"shout": (event.get("text") or "").upper()}),
            alert_sinks=alert_sink("inbox", self.alerts.append)))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def tribeops_plugins(recorder: Recorder) -> list[Any]:
    return [recorder.module()]


def test_register_connectors_is_called(tribeops_client: TestClient[Any], tribeops_headers: dict[str, str]) -> None:
    echo = catalogue(tribeops_client, tribeops_headers, "connectors", key="network")["echo"]
    assert echo["plugin"] == "recording" and [s["name"] for s in echo["streams"]] == ["posts"]
    assert "token" in echo["config_schema"]["$defs"]["Config"]["properties"]


def test_register_metrics_is_called(tribeops_client: TestClient[Any], tribeops_headers: dict[str, str]) -> None:
    assert catalogue(tribeops_client, tribeops_headers, "metrics")["recorded_metric"]["plugin"] == "recording"


def test_register_event_kinds_is_called_and_ingest_accepts_the_kind(
        tribeops_client: TestClient[Any], tribeops_headers: dict[str, str], tribeops_settings: Settings,
        event_builder: EventBuilder) -> None:
    result = post_events(tribeops_client, tribeops_headers, [event_builder.event("unboxing", actor="anna")])
    assert (result["accepted"], result["rejected"]) == (1, [])
    with serve(tribeops_settings) as without_plugin:  # same database, the plugin not registered
        refused = post_events(without_plugin, tribeops_headers, [event_builder.event("unboxing", actor="anna")])
    assert refused["accepted"] == 0 and [e["pointer"] for e in refused["rejected"][0]["errors"]] == ["/kind"]


def test_register_enrichers_is_called_and_the_field_is_stored(
        tribeops_client: TestClient[Any], tribeops_headers: dict[str, str], tribeops_settings: Settings,
        event_builder: EventBuilder) -> None:
    loud, quiet = event_builder.comment(text="hello there"), event_builder.like()
    assert post_events(tribeops_client, tribeops_headers, [loud, quiet])["accepted"] == 2
    stored = stored_events(tribeops_settings)
    assert stored[loud["id"]].enrichment["shout"] == "HELLO THERE" and stored[quiet["id"]].enrichment["shout"] == ""
    assert stored[loud["id"]].enrichment_errors is None


def test_register_alert_sinks_is_called_and_alerts_reach_the_sink(
        tribeops_app: Litestar, tribeops_client: TestClient[Any], tribeops_headers: dict[str, str],
        recorder: Recorder) -> None:
    registry = tribeops_app.state.tribeops.registry
    assert catalogue(tribeops_client, tribeops_headers, "plugins")["recording"]["registered"]["alert_sinks"] == [
        "inbox"]
    alert = Alert(kind="spike", severity="warning", workspace_id="ws", brand_id=None, title="Spike",
                  detail="Mentions tripled", created_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert asyncio.run(deliver(registry, alert)) == []
    assert recorder.alerts == [alert]


def test_startup_is_called_once_when_the_app_starts(tribeops_app: Litestar, recorder: Recorder) -> None:
    assert recorder.startups == []  # building the app registers plugins; it does not start them
    with TestClient(tribeops_app):
        pass
    assert len(recorder.startups) == 1 and recorder.startups[0] is tribeops_app.state.tribeops.core
    assert recorder.startups[0].settings is tribeops_app.state.tribeops.settings


def test_events_ingested_receives_the_new_ids_only(
        tribeops_client: TestClient[Any], tribeops_headers: dict[str, str], tribeops_brand: dict[str, Any],
        event_builder: EventBuilder, recorder: Recorder) -> None:
    first, second, third = (event_builder.comment(text=f"number {n}") for n in range(3))
    broken = {**event_builder.comment(), "kind": "no such kind"}
    for batch in ([first, second], [first, third, third], [first, second], [broken]):
        post_events(tribeops_client, tribeops_headers, batch)
    assert [sorted(ids) for _, _, ids in recorder.ingested] == [sorted([first["id"], second["id"]]), [third["id"]]]
    assert [brands for _, brands, _ in recorder.ingested] == [[tribeops_brand["id"]]] * 2
    assert len({workspace for workspace, _, _ in recorder.ingested}) == 1
