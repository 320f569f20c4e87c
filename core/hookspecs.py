"""The hook specifications of tribeops: the whole contract between core and plugins.

Every hook is documented in ``docs/plugins.md``; a test fails when one is missing there.
Registration hooks receive a ``register`` callback and are called once, at start-up, in a
fresh plugin manager per runtime. Notification hooks are called as things happen; what
they raise is logged with the plugin's name and never reaches a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .connectors import Connector
    from .extensions import AlertSink, Enricher, EventKind, Metric, Register

PROJECT = "tribeops"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_connectors(register: Register[type[Connector]]) -> None:
    """Register connector classes, one per network (``Connector.network`` must be unique).

    Called once at start-up. Synchronous. ``register(MyConnector)`` for each.
    """


@hookspec
def register_metrics(register: Register[Metric]) -> None:
    """Register scoring rules (``Metric``): name, family, description, formula, unit, version, compute.

    Called once at start-up. Synchronous. Names are unique across all plugins.
    """


@hookspec
def register_event_kinds(register: Register[EventKind]) -> None:
    """Register KPI event kinds beyond the built-in ones; ingest then accepts them.

    Called once at start-up. Synchronous. A name may not repeat a built-in kind.
    """


@hookspec
def register_enrichers(register: Register[Enricher]) -> None:
    """Register enrichers that add derived fields to every event at ingest.

    Called once at start-up. Synchronous; the enrich functions themselves may be async.
    """


@hookspec
def register_alert_sinks(register: Register[AlertSink]) -> None:
    """Register alert sinks, the places alerts are delivered to.

    Called once at start-up. Synchronous; the send functions may be async.
    """


@hookspec
def startup(runtime: Any) -> None:
    """The runtime is ready (API process or worker): plugins may read ``runtime.settings``.

    Called once per process after registration. May be a coroutine function.
    """


@hookspec
def events_ingested(workspace_id: str, brand_ids: Sequence[str], event_ids: Sequence[str]) -> None:
    """New events were stored (duplicates excluded), after their transaction committed.

    Called once per batch with the ids of the events newly stored. May be a coroutine
    function. Keep it quick: heavy work belongs in a job.
    """
