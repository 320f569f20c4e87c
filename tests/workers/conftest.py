"""Worker suites: real PostgreSQL, real Redis, ``tribeops worker`` processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.settings import Settings
from tribeops.workers.queue import ArqQueue

from ..services import REDIS_URL, in_ci, own_postgres_database, require

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A database of the worker suites' own (see :func:`own_postgres_database`)."""
    return own_postgres_database("workers")


@pytest.fixture
def redis_url() -> str:
    require("Redis")
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


def env_for(pg: str, redis_url: str) -> dict[str, str]:
    return {**os.environ, "TRIBEOPS_DATABASE_URL": pg, "TRIBEOPS_REDIS_URL": redis_url,
            "TRIBEOPS_JOB_STALE_SECONDS": "3"}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``start(pg, redis)`` → a running ``tribeops worker``; all are killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(pg: str, redis_url: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker{len(started)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "tribeops.cli.main", "worker"], env=env_for(pg, redis_url),
                                stdout=log, stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def api(pg_url: str) -> Callable[[str], Any]:
    """``api(redis_url)`` → a test client of an app that wakes the workers through that Redis."""
    clients: list[Any] = []

    def make(redis_url: str) -> TestClient[Any]:
        settings = Settings(database_url=pg_url, redis_url=redis_url, key_cache_seconds=0)
        client = TestClient(create_app(settings, queue=ArqQueue(redis_url)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make  # type: ignore[misc]
    for client in clients:
        client.__exit__(None, None, None)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """A Redis server of the test's own on a spare port, which the test may stop and start."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    port = 6391
    state: dict[str, Any] = {"proc": None, "url": f"redis://127.0.0.1:{port}/0"}

    def start() -> Any:
        state["proc"] = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--dir", str(tmp_path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _pings(state["url"]), 10, "redis-server to start")
        return state

    def stop() -> None:
        state["proc"].send_signal(signal.SIGKILL)
        state["proc"].wait(timeout=10)

    state["start"], state["stop"] = start, stop
    yield lambda: state
    if state["proc"] is not None and state["proc"].poll() is None:
        stop()


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def pg_key(pg_url: str) -> Callable[[], str]:
    """A key of a fresh workspace in the PostgreSQL database the workers use."""
    import asyncio
    import uuid

    from tribeops.core.bootstrap import issue_key
    from tribeops.core.db import Database

    def make() -> str:
        async def run() -> str:
            db = Database.from_settings(Settings(database_url=pg_url))
            try:
                return await issue_key(db, f"ws-{uuid.uuid4().hex[:12]}", ["admin"], "workers")
            finally:
                await db.dispose()

        return asyncio.run(run())

    return make
