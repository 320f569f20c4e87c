"""Delivering alerts to every registered sink, each isolated from the others."""

from __future__ import annotations

from .extensions import Alert
from .plugins import Registry
from .safety import PluginFailure, call


async def deliver(registry: Registry, alert: Alert) -> list[str]:
    """Send ``alert`` to every sink; returns the failures (also recorded against their plugins).

    A sink that raises or outlives its ``timeout`` does not stop the others from receiving
    the alert, and never fails the job that raised the alert.
    """
    failures = []
    for name, registered in registry.alert_sinks.items():
        result = await call(registered.plugin, f"alert sink {name!r}", registered.item.send, alert,
                            timeout=registered.item.timeout)
        if isinstance(result, PluginFailure):
            registry.record_error(registered.plugin, str(result))
            failures.append(str(result))
    return failures
