"""/v1/plugins, /v1/connectors, /v1/metrics: what the installed plugins bring (scope ``read``)."""

from __future__ import annotations

from litestar import Controller, get

from tribeops.core import catalogue
from tribeops.core.schemas.plugins import Catalogue, ConnectorEntry, MetricEntry, PluginEntry

from ..docs import problems
from ..state import Runtime

ERRORS = problems(400, 401, 403, 422)  # 422: a query parameter these do not have


class PluginController(Controller):
    path = "/"
    tags = ["Plugins"]

    @get("/plugins", operation_id="listPlugins", summary="List the loaded plugins", responses=ERRORS)
    async def list_plugins(self, runtime: Runtime) -> Catalogue[PluginEntry]:
        """Built-in and third-party plugins: version, hooks, what each registered, and errors they raised."""
        return Catalogue(data=catalogue.plugins(runtime.registry))

    @get("/connectors", operation_id="listConnectors", summary="List the connectors", responses=ERRORS)
    async def list_connectors(self, runtime: Runtime) -> Catalogue[ConnectorEntry]:
        """One connector per network: capabilities, streams and the JSON schema of its configuration."""
        return Catalogue(data=catalogue.connectors(runtime.registry))

    @get("/metrics", operation_id="listMetrics", summary="List the metric catalogue", responses=ERRORS)
    async def list_metrics(self, runtime: Runtime) -> Catalogue[MetricEntry]:
        """Every scoring rule, built-in or from a plugin: family, description, formula, unit, version."""
        return Catalogue(data=catalogue.metrics(runtime.registry))
