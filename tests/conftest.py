"""Shared fixtures: each API test runs once on SQLite and once on PostgreSQL.

Every test works in workspaces of its own, so one migrated database per backend serves
the whole session without cleanup between tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.bootstrap import issue_key
from tribeops.core.db import Database
from tribeops.core.migrate import upgrade
from tribeops.core.settings import Settings

from .services import POSTGRES_URL, own_postgres_database, require, reset_postgres

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"sqlite": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'tribeops.db'}"}


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> str:
    """A migrated database URL on each backend."""
    if request.param not in database_urls:
        require("PostgreSQL")
        reset_postgres(POSTGRES_URL)
        database_urls["postgres"] = POSTGRES_URL
        upgrade(POSTGRES_URL)
    else:
        url = database_urls[request.param]
        if not Path(url.split("///", 1)[1]).exists():
            upgrade(url)
    return database_urls[request.param]


@pytest.fixture(scope="session", params=BACKENDS)
def jobs_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database on each backend for the suites that drive jobs by hand (claims,
    sweeps, schedules): on the shared one, the session's apps run jobs in process, and their
    scheduling ticks and sweeps would take those suites' jobs from under them."""
    if request.param == "postgres":
        return own_postgres_database("jobs")
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('jobs') / 'jobs.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session", autouse=True)
def _no_scheduled_syncs() -> Iterator[None]:
    """The session's apps share a database where the API suites and schemathesis create
    connections to made-up feeds: their runners must not fetch them (tests reach no network).
    Tests sync when they ask (``POST /v1/connections/{id}/sync``); the schedule itself is tested
    on a database of its own (``tests/core/test_connection_syncs.py``)."""

    async def none(db: Any, now: Any = None) -> list[str]:
        return []

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tribeops.core.runner.schedule_syncs", none)
        yield


@pytest.fixture(scope="session")
def client(database_url: str) -> Iterator[TestClient[Any]]:
    app = create_app(Settings(database_url=database_url, key_cache_seconds=0))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def new_key(database_url: str) -> Callable[..., str]:
    """``new_key(workspace=None, scopes=("admin",))`` → a key (new workspace unless named)."""

    def make(workspace: str | None = None, scopes: tuple[str, ...] = ("admin",)) -> str:
        async def run() -> str:
            db = Database.from_settings(Settings(database_url=database_url))
            try:
                return await issue_key(db, workspace or f"ws-{uuid.uuid4().hex[:12]}", list(scopes), "test")
            finally:
                await db.dispose()

        return asyncio.run(run())

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(new_key: Callable[..., str]) -> dict[str, str]:
    """Headers of an admin key of a fresh workspace."""
    return bearer(new_key())


@pytest.fixture
def brand(client: TestClient[Any], admin: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "@acme"}}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()
