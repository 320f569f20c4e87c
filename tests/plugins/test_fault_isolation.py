"""A plugin that fails everywhere costs nothing but its own contributions.

``broken`` raises in every hook, registers enrichers that raise, time out or return junk
(something not a mapping, or a mapping with a value that is not JSON),
and an alert sink that raises. Start-up must succeed, valid events must be stored, the
failures must be recorded against ``broken`` (on each event, and in ``GET /v1/plugins``),
and ``healthy``, registered beside it, must work as if ``broken`` were not there.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tribeops.core.alerts import deliver
from tribeops.core.plugin_api import Alert
from tribeops.core.safety import PluginFailure, call
from tribeops.core.settings import Settings
from tribeops.testing.events import EventBuilder

from .kit import (
    EchoConnector,
    alert_sink,
    catalogue,
    enricher,
    event_kind,
    metric,
    plugin,
    post_events,
    registering,
    stored_events,
)

ALERT = Alert(kind="spike", severity="critical", workspace_id="ws", brand_id=None, title="Spike",
              detail="Complaints tripled", created_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
HOOKS = ("register_connectors", "register_metrics", "register_event_kinds", "register_enrichers",
         "register_alert_sinks", "startup", "events_ingested")


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("plugin bug")


async def _dawdle(event: Any) -> dict[str, Any]:
    await asyncio.sleep(30)
    return {"late": True}


def _explode(event: Any) -> dict[str, Any]:
    raise ValueError("cannot enrich")


def _then_raise(**items: Any) -> dict[str, Any]:
    """Hooks that register ``items`` and then raise: what was registered stays, the error is recorded."""
    hooks = registering(**items)

    def failing(hook: Any) -> Any:
        def register_then_raise(register: Any) -> None:
            hook(register)
            raise RuntimeError("plugin bug after registering")
        return register_then_raise

    return {name: failing(hook) for name, hook in hooks.items()}


def broken_plugin() -> ModuleType:
    async def events_ingested(workspace_id: str, brand_ids: Any, event_ids: Any) -> None:
        raise RuntimeError("plugin bug")

    return plugin(
        "broken", register_connectors=_raise, register_metrics=_raise, register_event_kinds=_raise,
        startup=_raise, events_ingested=events_ingested,
        **_then_raise(enrichers=[enricher("explodes", _explode), enricher("dawdles", _dawdle, timeout=0.05),
                                 enricher("junk", lambda event: ["not", "a", "mapping"]),
                                 enricher("opaque", lambda event: {"blob": object()})],
                      alert_sinks=alert_sink("pager", _raise)))


class Healthy:
    def __init__(self) -> None:
        self.ingested: list[list[str]] = []
        self.alerts: list[Alert] = []

    def module(self) -> ModuleType:
        def events_ingested(workspace_id: str, brand_ids: Any, event_ids: Any) -> None:
            self.ingested.append(sorted(event_ids))

        return plugin("healthy", events_ingested=events_ingested, **registering(
            connectors=EchoConnector, metrics=metric("healthy_metric"), event_kinds=event_kind("unboxing"),
            enrichers=enricher("steady", lambda event: {"steady": True}), alert_sinks=alert_sink("log", self.alerts.append)))


@pytest.fixture
def healthy() -> Healthy:
    return Healthy()


@pytest.fixture
def tribeops_settings(tribeops_settings: Settings) -> Settings:
    """No installed third-party plugin: the two plugins here are the whole picture."""
    return msgspec.structs.replace(tribeops_settings, load_plugins="", disable_plugins=None)


@pytest.fixture
def tribeops_plugins(healthy: Healthy) -> list[Any]:
    return [broken_plugin(), healthy.module()]


def test_start_up_succeeds_and_the_catalogues_answer(tribeops_client: TestClient[Any],
                                                    tribeops_headers: dict[str, str]) -> None:
    assert tribeops_client.get("/healthz").status_code == 200
    assert catalogue(tribeops_client, tribeops_headers, "metrics")["healthy_metric"]["plugin"] == "healthy"
    assert catalogue(tribeops_client, tribeops_headers, "connectors", key="network")["echo"]["plugin"] == "healthy"


def test_valid_events_are_stored_with_the_failures_recorded_on_them(
        tribeops_client: TestClient[Any], tribeops_headers: dict[str, str], tribeops_settings: Settings,
        event_builder: EventBuilder, healthy: Healthy) -> None:
    valid = [event_builder.comment(text="Grazie!"), event_builder.like(), event_builder.event("unboxing")]
    invalid = {**event_builder.comment(), "kind": "Not A Kind"}
    result = post_events(tribeops_client, tribeops_headers, [*valid, invalid])
    assert result["accepted"] == 3 and [r["index"] for r in result["rejected"]] == [3]
    stored = stored_events(tribeops_settings)
    for item in valid:
        row = stored[item["id"]]
        assert row.enrichment["steady"] is True and "late" not in row.enrichment  # healthy's field, broken's none
        errors = sorted(row.enrichment_errors)
        assert len(errors) == 4 and all(error.startswith("broken: enricher '") for error in errors), errors
        assert "'dawdles' timed out" in errors[0] and "'explodes' raised ValueError: cannot enrich" in errors[1]
        assert "'junk' returned list, not a mapping" in errors[2]
        assert "'opaque' returned a value that is not JSON" in errors[3] and "blob" not in row.enrichment
    assert healthy.ingested == [sorted(item["id"] for item in valid)]


def test_the_plugin_catalogue_shows_every_failure_against_the_plugin(
        tribeops_client: TestClient[Any], tribeops_headers: dict[str, str], event_builder: EventBuilder) -> None:
    post_events(tribeops_client, tribeops_headers, [event_builder.comment(text="hello")])
    plugins = catalogue(tribeops_client, tribeops_headers, "plugins")
    errors = plugins["broken"]["errors"]
    for hook in HOOKS:
        assert any(re.search(rf"(^|^broken: ){hook} raised RuntimeError: plugin bug", e) for e in errors), (hook, errors)
    assert plugins["broken"]["registered"] == {"alert_sinks": ["pager"], "enrichers": ["dawdles", "explodes", "junk", "opaque"]}
    assert plugins["healthy"]["errors"] == []


def test_a_failing_alert_sink_does_not_stop_the_others(tribeops_app: Litestar, tribeops_client: TestClient[Any],
                                                       tribeops_headers: dict[str, str], healthy: Healthy) -> None:
    failures = asyncio.run(deliver(tribeops_app.state.tribeops.registry, ALERT))
    assert failures == ["broken: alert sink 'pager' raised RuntimeError: plugin bug"]
    assert healthy.alerts == [ALERT]
    assert failures[0] in catalogue(tribeops_client, tribeops_headers, "plugins")["broken"]["errors"]


@pytest.mark.parametrize(("send", "outcome"), [(_raise, "raised RuntimeError: plugin bug"), (_dawdle, "timed out after 0.05 s")])
def test_a_sinks_send_is_called_in_isolation(send: Any, outcome: str) -> None:
    sink = alert_sink("pager", send, timeout=0.05)
    result = asyncio.run(call("broken", f"alert sink {sink.name!r}", sink.send, ALERT, timeout=sink.timeout))
    assert isinstance(result, PluginFailure) and result.plugin == "broken"
    assert str(result) == f"broken: alert sink 'pager' {outcome}"
