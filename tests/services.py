"""Where the test suites find PostgreSQL and Redis, and what to do when they are down.

With ``CI=true`` an unreachable service fails the run; elsewhere its suites are skipped
with a reason that says how to start it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from urllib.parse import urlparse

import pytest

POSTGRES_URL = os.environ.get("TRIBEOPS_TEST_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TRIBEOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    """Skip (or, in CI, fail) when ``service`` is not reachable."""
    url, port = (POSTGRES_URL, 5432) if service == "PostgreSQL" else (REDIS_URL, 6379)
    if _reachable(url, port):
        return
    message = f"{service} is not reachable at {url}; start it with: {START[service]}"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def own_postgres_database(suffix: str) -> str:
    """A database beside the test database, named after it with ``_suffix``: created if
    missing, emptied and migrated; its URL (skipped, or failed in CI, without PostgreSQL).

    A suite whose jobs must be run only by its own workers, or by hand, takes one: the rest of
    the tests leave apps running on the shared database, and their in-process runners would
    schedule and run the jobs of its brands too."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from tribeops.core.db import create_engine
    from tribeops.core.migrate import upgrade

    require("PostgreSQL")
    url = POSTGRES_URL
    own = make_url(url)
    own = own.set(database=f"{own.database}_{suffix}")

    async def run() -> None:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            exists = (await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                         {"name": own.database})).scalar()
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{own.database}"'))
        await engine.dispose()

    asyncio.run(run())
    own_url = own.render_as_string(hide_password=False)
    reset_postgres(own_url)
    upgrade(own_url)
    return own_url


def reset_postgres(url: str) -> None:
    """Empty the test database: drop and recreate its public schema."""
    from sqlalchemy import text

    from tribeops.core.db import create_engine

    async def run() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(run())
