"""Liveness and readiness need no key; readiness checks the database and, when set, Redis."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.settings import Settings


def test_healthz_and_readyz(client: TestClient[Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}


def test_readyz_is_503_when_the_database_or_redis_is_unreachable(tmp_path: Any) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db",
                        redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as c:
        response = c.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["checks"]["database"].startswith("unreachable")
        assert response.json()["checks"]["redis"].startswith("unreachable")


def test_readyz_is_degraded_but_200_when_only_redis_is_unreachable(database_url: str) -> None:
    # The API serves without Redis (events stored, jobs recorded): a probe must not take it out.
    settings = Settings(database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings, run_jobs=False)) as c:
        response = c.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "degraded" and response.json()["checks"]["database"] == "ok"
        assert response.json()["checks"]["redis"].startswith("unreachable")
