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
import time
from collections.abc import Callable, Iterator
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


@pytest.fixture
def tribeops_scorecard(tribeops_client: Any, tribeops_headers: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """``tribeops_scorecard(brand_id, **params)``: the brand's scorecard as ``GET /v1/scorecards``
    gives it for ``params`` (``campaign_id``, ``tribe_id``, ``network``, ``from``, ``to``,
    ``granularity``), after a rebuild of the brand's aggregates, so that every event sent so far
    counts. Your metric is in its ``metrics``, computed as in production::

        card = tribeops_scorecard(brand["id"], campaign_id=campaign["id"])
        mine = {m["name"]: m for m in card["metrics"]}["my_metric"]
        assert (mine["numerator"], mine["denominator"]) == (2, 3) and card["errors"] == []
    """

    def scorecard(brand_id: str, timeout: float = 30.0, **params: str) -> dict[str, Any]:
        job = tribeops_client.post("/v1/jobs", json={"kind": "scorecards.rebuild", "params": {"brand_id": brand_id}},
                                   headers=tribeops_headers)
        assert job.status_code == 202, job.text
        deadline = time.monotonic() + timeout
        while True:
            state = tribeops_client.get(job.headers["location"], headers=tribeops_headers).json()
            if state["status"] in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline, f"the rebuild did not finish in {timeout} s: {state}"
            time.sleep(0.1)
        assert state["status"] == "succeeded", state
        response = tribeops_client.get("/v1/scorecards", params={"brand_id": brand_id, **params},
                                       headers=tribeops_headers)
        assert response.status_code == 200, response.text
        card: dict[str, Any] = response.json()
        return card

    return scorecard
