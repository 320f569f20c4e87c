"""pytest plugin shipped with tribeops: an app and a client with your plugin registered.

In a plugin's test suite (the plugin is installed, so it is found through its entry point)::

    def test_my_metric_is_listed(tribeops_client, tribeops_headers):
        names = [m["name"] for m in tribeops_client.get("/v1/metrics", headers=tribeops_headers).json()["data"]]
        assert "my_metric" in names

To register a plugin object that is not installed, override ``tribeops_plugins``::

    @pytest.fixture
    def tribeops_plugins():
        return [my_plugin_module]
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .events import EventBuilder


@pytest.fixture
def tribeops_plugins() -> list[Any]:
    """Plugin objects to register beside the installed ones (none by default)."""
    return []


@pytest.fixture
def tribeops_settings(tmp_path: Path) -> Any:
    """Settings on a fresh, migrated SQLite file."""
    from tribeops.core.migrate import upgrade
    from tribeops.core.settings import Settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'tribeops.db'}"
    upgrade(url)
    return Settings.from_env(database_url=url, key_cache_seconds=0.0)


@pytest.fixture
def tribeops_app(tribeops_settings: Any, tribeops_plugins: list[Any]) -> Any:
    """The API app with ``tribeops_plugins`` registered."""
    from tribeops.api.app import create_app

    return create_app(tribeops_settings, plugins=tribeops_plugins)


@pytest.fixture
def tribeops_client(tribeops_app: Any) -> Iterator[Any]:
    """A test client of ``tribeops_app`` (its lifespan, and so the plugins' ``startup``, has run)."""
    from litestar.testing import TestClient

    with TestClient(tribeops_app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def tribeops_headers(tribeops_settings: Any) -> dict[str, str]:
    """Authorization headers of an admin key of workspace ``test``."""
    from tribeops.core.bootstrap import issue_key
    from tribeops.core.db import Database

    async def make() -> str:
        db = Database.from_settings(tribeops_settings)
        try:
            return await issue_key(db, "test", ["admin"], "pytest")
        finally:
            await db.dispose()

    return {"Authorization": f"Bearer {asyncio.run(make())}"}


@pytest.fixture
def tribeops_brand(tribeops_client: Any, tribeops_headers: dict[str, str]) -> dict[str, Any]:
    """A brand whose own handle on x is ``@brand``."""
    response = tribeops_client.post("/v1/brands", json={"name": "Brand", "handles": {"x": "@brand"}},
                                    headers=tribeops_headers)
    assert response.status_code == 201, response.text
    brand: dict[str, Any] = response.json()
    return brand


@pytest.fixture
def event_builder(tribeops_brand: dict[str, Any]) -> EventBuilder:
    """An :class:`EventBuilder` for ``tribeops_brand`` on network x (the brand's handle is ``brand``)."""
    return EventBuilder(tribeops_brand["id"], network="x")
