"""The registry as data: plugins, connectors and metrics, for the API and the CLI."""

from __future__ import annotations

from .plugins import Registry
from .schemas.plugins import ConnectorEntry, MetricEntry, PluginEntry, StreamEntry


def plugins(registry: Registry) -> list[PluginEntry]:
    return [PluginEntry(name=p.name, version=p.version, builtin=p.builtin, hooks=p.hooks,
                        registered={k: sorted(v) for k, v in p.registered.items()}, errors=list(p.errors))
            for p in sorted(registry.plugins.values(), key=lambda p: (not p.builtin, p.name))]


def connectors(registry: Registry) -> list[ConnectorEntry]:
    entries = []
    for network, registered in sorted(registry.connectors.items()):
        cls = registered.item
        try:
            streams = [StreamEntry(name=s.name, key=s.key, cursor_field=s.cursor_field, is_sorted=s.is_sorted)
                       for s in (type(s) for s in _streams(cls))]
        except Exception as exc:  # noqa: BLE001 - a broken connector is listed with its error
            registry.record_error(registered.plugin, f"connector {network!r} streams failed: {exc!r}")
            streams = []
        entries.append(ConnectorEntry(network=network, title=cls.title, description=cls.description or "",
                                      capabilities=list(cls.capabilities), streams=streams,
                                      config_schema=cls.config_schema(), plugin=registered.plugin))
    return entries


def _streams(cls: type) -> list[object]:
    # Streams are declared on an instance; a connector is introspected without a real config.
    instance = cls.__new__(cls)
    instance.config = None
    return list(instance.streams())


def metrics(registry: Registry) -> list[MetricEntry]:
    return [MetricEntry(name=name, family=r.item.family, description=r.item.description, formula=r.item.formula,
                        unit=r.item.unit, version=r.item.version, plugin=r.plugin)
            for name, r in sorted(registry.metrics.items())]
