"""The public plugin API of tribeops: everything a plugin imports comes from here.

    from tribeops.core.plugin_api import hookimpl, Metric, MetricResult

    @hookimpl
    def register_metrics(register):
        register(Metric(name="thank_you_rate", family="relationship", ...))

Names here are stable within a :data:`PLUGIN_API_VERSION` major version.
"""

from __future__ import annotations

from .connectors import (
    Capability,
    Connector,
    PageResult,
    PayloadError,
    Stream,
    StreamContext,
    WebhookRequest,
    WebhookResponse,
)
from .extensions import (
    Alert,
    AlertSink,
    Enricher,
    EventKind,
    Family,
    Metric,
    MetricContext,
    MetricResult,
    Register,
)
from .hookspecs import hookimpl
from .schemas.events import BUILTIN_KINDS, Actor, EventIn

PLUGIN_API_VERSION = "1.2"
"""``major.minor``: a plugin written for 1.x works with any 1.y where y >= x.

1.1 adds ``MetricContext.memo`` and ``MetricContext.rows``; 1.2 the ``{events}`` placeholder
(the scope's events of the period) and ``MetricContext.campaign_ends_at``."""


def require_api(version: str) -> None:
    """Raise ``RuntimeError`` unless this tribeops offers plugin API ``version`` (``"1.0"``)."""
    want_major, want_minor = (int(p) for p in version.split("."))
    have_major, have_minor = (int(p) for p in PLUGIN_API_VERSION.split("."))
    if want_major != have_major or want_minor > have_minor:
        raise RuntimeError(f"this plugin needs tribeops plugin API {version}; this tribeops has {PLUGIN_API_VERSION}")


__all__ = [
    "BUILTIN_KINDS", "PLUGIN_API_VERSION", "Actor", "Alert", "AlertSink", "Capability", "Connector", "Enricher",
    "EventIn", "EventKind", "Family", "Metric", "MetricContext", "MetricResult", "PageResult", "PayloadError",
    "Register", "Stream", "StreamContext", "WebhookRequest", "WebhookResponse", "hookimpl", "require_api",
]
