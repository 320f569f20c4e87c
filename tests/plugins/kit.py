"""Building blocks for the plugin-system tests: throwaway plugins, a test connector, stored events.

Plugins are built as fresh module objects per test, so no test can leak hook
implementations into another, and each is registered under the name it is given, the way
``create_manager`` names the plugin objects it is handed.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core import tables as t
from tribeops.core.db import Database
from tribeops.core.plugin_api import (
    AlertSink,
    Connector,
    Enricher,
    EventKind,
    Metric,
    MetricContext,
    MetricResult,
    PageResult,
    Stream,
    StreamContext,
    hookimpl,
)
from tribeops.core.settings import Settings


def plugin(name: str, **hooks: Callable[..., Any]) -> ModuleType:
    """A plugin module called ``name`` whose attributes ``hooks`` are all marked ``@hookimpl``."""
    module = ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def registering(**items: Any) -> dict[str, Callable[..., None]]:
    """``register_<what>`` hook functions that register the given items (one or a list each)."""
    def hook(things: Any) -> Callable[..., None]:
        def register_all(register: Callable[[Any], None]) -> None:
            for thing in things if isinstance(things, list) else [things]:
                register(thing)
        return register_all

    return {f"register_{what}": hook(things) for what, things in items.items()}


def fake_entry_points(**plugins: str) -> Callable[..., list[importlib.metadata.EntryPoint]]:
    """A stand-in for ``importlib.metadata.entry_points``: entry point name -> importable module name."""
    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        return [importlib.metadata.EntryPoint(name=name, value=value, group=group) for name, value in plugins.items()
                if group == "tribeops"]

    return entry_points


async def _zero(ctx: MetricContext) -> MetricResult:
    return MetricResult(0.0)


def metric(name: str) -> Metric:
    return Metric(name=name, family="relationship", description=f"{name} for tests", formula="0",
                  unit="ratio", compute=_zero)


def enricher(name: str, enrich: Callable[[Mapping[str, Any]], Any], timeout: float = 1.0) -> Enricher:
    return Enricher(name=name, description=f"{name} for tests", enrich=enrich, timeout=timeout)


def event_kind(name: str) -> EventKind:
    return EventKind(name=name, description=f"{name} for tests", active=True)


def alert_sink(name: str, send: Callable[..., Any], timeout: float = 1.0) -> AlertSink:
    return AlertSink(name=name, description=f"{name} for tests", send=send, timeout=timeout)


class EchoStream(Stream):
    name = "posts"

    def parse(self, payload: bytes, context: StreamContext) -> PageResult:
        return PageResult()


class EchoConnector(Connector):
    """A connector with one stream and a one-field configuration."""

    network = "echo"
    title = "Echo"
    description = "Answers nothing; exists to be registered."

    class Config(msgspec.Struct, kw_only=True):
        token: str = ""

    def streams(self) -> list[Stream]:
        return [EchoStream(self)]


@contextmanager
def serve(settings: Settings, plugins: list[Any] | tuple[Any, ...] = ()) -> Iterator[TestClient[Any]]:
    """A test client of a fresh app on ``settings`` (its lifespan, hence ``startup``, has run)."""
    with TestClient(create_app(settings, plugins=plugins), raise_server_exceptions=False) as client:
        yield client


def stored_events(settings: Settings) -> dict[str, Any]:
    """Every row of the ``events`` table, by event id (reading events through the API is not built yet)."""
    async def read() -> dict[str, Any]:
        db = Database.from_settings(settings)
        try:
            async with db.reading() as conn:
                return {row.id: row for row in await conn.execute(sa.select(t.events))}
        finally:
            await db.dispose()

    return asyncio.run(read())


def post_events(client: TestClient[Any], headers: dict[str, str], items: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v1/events", json={"events": items}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def catalogue(client: TestClient[Any], headers: dict[str, str], what: str, key: str = "name") -> dict[str, Any]:
    """``GET /v1/<what>`` as a dict keyed by each entry's ``key``."""
    response = client.get(f"/v1/{what}", headers=headers)
    assert response.status_code == 200, response.text
    return {entry[key]: entry for entry in response.json()["data"]}
