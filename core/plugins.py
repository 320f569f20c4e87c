"""Plugin discovery and registration: a fresh pluggy manager per runtime, no import-time state.

Built-in plugins (``DEFAULT_PLUGINS``) are registered exactly like third-party ones, which
are found through the ``tribeops`` entry-point group. ``TRIBEOPS_LOAD_PLUGINS`` (comma list,
empty for none) limits which third-party plugins load; ``TRIBEOPS_DISABLE_PLUGINS`` skips
plugins by name, built-ins included. A misspelt hook or a name registered twice stops
start-up with an error naming the plugins; an exception inside a registration hook is
recorded against its plugin and the rest carry on.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pluggy

from . import __version__, hookspecs
from .connectors import Connector
from .extensions import FAMILIES, AlertSink, Enricher, EventKind, Metric
from .schemas.events import ACTIVE_KINDS, BUILTIN_KINDS

log = logging.getLogger("tribeops.plugins")
T = TypeVar("T")

DEFAULT_PLUGINS: tuple[str, ...] = (
    "tribeops.plugins.rss",
    "tribeops.plugins.csv",
    "tribeops.plugins.metrics",
    "tribeops.plugins.enrichers",
)
ENTRY_POINT_GROUP = "tribeops"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class PluginLoadError(RuntimeError):
    """Start-up cannot go on: a plugin is broken or two plugins clash."""


@dataclass
class PluginInfo:
    name: str
    version: str | None
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Registered(Generic[T]):
    plugin: str
    item: T


@dataclass
class Registry:
    """Everything the plugins registered, keyed by name, each with the plugin it came from."""

    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    connectors: dict[str, Registered[type[Connector]]] = field(default_factory=dict)
    metrics: dict[str, Registered[Metric]] = field(default_factory=dict)
    event_kinds: dict[str, Registered[EventKind]] = field(default_factory=dict)
    enrichers: dict[str, Registered[Enricher]] = field(default_factory=dict)
    alert_sinks: dict[str, Registered[AlertSink]] = field(default_factory=dict)

    def kinds(self) -> set[str]:
        """Every event kind ingest accepts: the built-ins and the registered ones."""
        return set(BUILTIN_KINDS) | set(self.event_kinds)

    def active_kinds(self) -> frozenset[str]:
        """The kinds by which a member takes part: the built-in ones and those registered ``active``."""
        return frozenset(ACTIVE_KINDS) | {name for name, kind in self.event_kinds.items() if kind.item.active}

    def record_error(self, plugin: str, message: str) -> None:
        log.warning("plugin %s: %s", plugin, message)
        self._keep(plugin, message, again=True)

    def remember_error(self, plugin: str, message: str) -> None:
        """Keep ``message`` among the plugin's ``errors`` (already logged) unless it is there:
        what fails at each call (a metric, on every scorecard) is listed once."""
        self._keep(plugin, message, again=False)

    def _keep(self, plugin: str, message: str, again: bool) -> None:
        """Add ``message`` to the plugin's ``errors``, up to 100 (``again``: even if it is there)."""
        info = self.plugins.get(plugin)
        if info is not None and len(info.errors) < 100 and (again or message not in info.errors):
            info.errors.append(message)


def _names(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def create_manager(load: str | None = None, disable: str | None = None,
                   extra: Sequence[Any] = ()) -> tuple[pluggy.PluginManager, Registry]:
    """A new plugin manager with the built-ins and the allowed third-party plugins registered.

    ``extra`` plugin objects (modules, classes or instances) are registered after them, as
    tests and embedding applications do; each is named after its ``__name__``.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    disabled = _names(disable)
    for module_name in DEFAULT_PLUGINS:
        short = module_name.rsplit(".", 1)[1]
        if module_name in disabled or short in disabled:
            continue
        _register(pm, registry, importlib.import_module(module_name), module_name, __version__, builtin=True)
    allowed = None if load is None else _names(load)
    installed = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    _check_lists(allowed or set(), disabled, installed, extra)
    for ep in installed:
        dist = ep.dist.name if ep.dist else None
        if ep.name in disabled or (allowed is not None and ep.name not in allowed and dist not in allowed):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginLoadError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}") from exc
        _register(pm, registry, plugin, ep.name, ep.dist.version if ep.dist else None, builtin=False)
    for plugin in extra:
        name = str(getattr(plugin, "__name__", None) or type(plugin).__name__)
        if name not in disabled:
            _register(pm, registry, plugin, name, getattr(plugin, "__version__", None), builtin=False)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {pm.get_name(exc.plugin)!r}: {exc} (a misspelt hook name?)") from exc
    _collect(pm, registry)
    return pm, registry


def _check_lists(load: set[str], disable: set[str], installed: list[Any], extra: Sequence[Any]) -> None:
    """Every plugin named in the load and disable lists exists: a misspelt name would otherwise
    leave a plugin out, or in, and its figures missing or wrong, without a word."""
    names = {ep.name for ep in installed}
    third = names | {ep.dist.name for ep in installed if ep.dist}
    third |= {str(getattr(p, "__name__", None) or type(p).__name__) for p in extra}
    short = {m.rsplit(".", 1)[1] for m in DEFAULT_PLUGINS}
    problems = [f"{variable} names {', '.join(map(repr, sorted(unknown)))}, not an installed plugin"
                for variable, unknown in (("TRIBEOPS_LOAD_PLUGINS", load - third),
                                          ("TRIBEOPS_DISABLE_PLUGINS", disable - third - short - set(DEFAULT_PLUGINS)))
                if unknown]
    if problems:
        raise PluginLoadError("; ".join(problems) + f" (third-party plugins installed: "
                              f"{', '.join(sorted(names)) or 'none'}; built-in: {', '.join(sorted(short))}).")


def _register(pm: pluggy.PluginManager, registry: Registry, plugin: Any, name: str, version: str | None,
              builtin: bool) -> None:
    if pm.has_plugin(name):
        raise PluginLoadError(f"two plugins are named {name!r}")
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {name!r}: {exc}") from exc
    hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
    registry.plugins[name] = PluginInfo(name=name, version=version, builtin=builtin, hooks=hooks)


def _collect(pm: pluggy.PluginManager, registry: Registry) -> None:
    targets: list[tuple[str, dict[str, Registered[Any]], Callable[[Any], str]]] = [
        ("register_connectors", registry.connectors, _check_connector),
        ("register_metrics", registry.metrics, _check_metric),
        ("register_event_kinds", registry.event_kinds, _check_kind),
        ("register_enrichers", registry.enrichers, lambda e: _check_named(e, Enricher)),
        ("register_alert_sinks", registry.alert_sinks, lambda s: _check_named(s, AlertSink)),
    ]
    for hook_name, table, check in targets:
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            _call_register(impl.plugin_name, hook_name, impl.function, table, check, registry)


def _call_register(plugin: str, hook_name: str, function: Callable[..., Any], table: dict[str, Registered[Any]],
                   check: Callable[[Any], str], registry: Registry) -> None:
    what = hook_name.removeprefix("register_")

    def register(item: Any) -> None:
        try:
            name = check(item)  # a malformed registration is the plugin's bug: stop start-up, name it
        except PluginLoadError as exc:
            raise PluginLoadError(f"plugin {plugin!r}, {hook_name}: {exc}") from None
        if name in table:
            thing = f"{what[:-1].replace('_', ' ')} {name!r}"
            if table[name].plugin == plugin:
                raise PluginLoadError(f"{thing} is registered twice by {plugin!r}")
            raise PluginLoadError(f"{thing} is registered by both {table[name].plugin!r} and {plugin!r}")
        table[name] = Registered(plugin, item)
        registry.plugins[plugin].registered.setdefault(what, []).append(name)

    try:
        function(register=register)
    except PluginLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's failure must not stop the others
        registry.record_error(plugin, f"{hook_name} raised {type(exc).__name__}: {exc}")


def _check_named(item: Any, cls: type) -> str:
    if not isinstance(item, cls):
        raise PluginLoadError(f"expected a {cls.__name__}, got {type(item).__name__}")
    name = str(getattr(item, "name", ""))
    if not _NAME.match(name):
        raise PluginLoadError(f"{cls.__name__} name {name!r} must match {_NAME.pattern}")
    return name


def _check_metric(metric: Any) -> str:
    name = _check_named(metric, Metric)
    if metric.family not in FAMILIES:
        raise PluginLoadError(f"metric {name!r}: family {metric.family!r} is not one of {', '.join(FAMILIES)}")
    if not callable(metric.compute):
        raise PluginLoadError(f"metric {name!r}: compute must be callable")
    return name


def _check_kind(kind: Any) -> str:
    name = _check_named(kind, EventKind)
    if name in BUILTIN_KINDS:
        raise PluginLoadError(f"event kind {name!r} is built in and cannot be registered again")
    return name


def _check_connector(connector: Any) -> str:
    if not (isinstance(connector, type) and issubclass(connector, Connector)):
        raise PluginLoadError(f"expected a Connector subclass, got {connector!r}")
    network = str(getattr(connector, "network", ""))
    if not _NAME.match(network):
        raise PluginLoadError(f"connector {connector.__name__}: network {network!r} must match {_NAME.pattern}")
    return network
