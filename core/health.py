"""Readiness: can this process reach what it needs (the database, and Redis when configured)?"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .db import Database
from .settings import Settings


async def readiness(settings: Settings, db: Database) -> dict[str, str]:
    """``{"database": "ok", "redis": "unreachable: ..."}``; never raises, it reports."""
    checks = {"database": await _probe(db.ping)}
    if settings.redis_url:
        checks["redis"] = await _ping_redis(settings.redis_url)
    return checks


async def _probe(ping: Callable[[], Awaitable[object]]) -> str:
    try:
        await ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        return f"unreachable: {type(exc).__name__}"


async def _ping_redis(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return await _probe(client.ping)
    finally:
        await client.aclose()
