"""Idempotency keys with Stripe's semantics.

The first response to a creating POST is stored with a fingerprint of the request, in the
same transaction as the object it created: a retry with the same key and body gets that
response back, the same key with another body is refused, and a request that failed
validation never reached the point of storing anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables as t
from .db import Database
from .errors import Conflict, FieldError, ValidationFailed
from .services.context import utcnow

MAX_KEY_LENGTH = 255


class StoredResponse(msgspec.Struct, frozen=True):
    status_code: int
    body: bytes
    location: str | None


def fingerprint(method: str, path: str, body: Any) -> str:
    """A digest of what the request asks for; key order in the JSON body does not matter."""
    canonical = msgspec.json.encode([method.upper(), path, body], order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            [FieldError("/Idempotency-Key", f"Must be 1 to {MAX_KEY_LENGTH} printable characters.", "header")]
        )


async def lookup(conn: AsyncConnection, workspace_id: str, key: str, fp: str, ttl: timedelta) -> StoredResponse | None:
    """The stored response for ``key``; ``ValidationFailed`` when it was used for another request."""
    row = (await conn.execute(sa.select(t.idempotency_keys).where(
        t.idempotency_keys.c.workspace_id == workspace_id, t.idempotency_keys.c.key == key,
        t.idempotency_keys.c.created_at > utcnow() - ttl))).first()
    if row is None:
        return None
    if row.fingerprint != fp:
        raise ValidationFailed(
            [FieldError("/Idempotency-Key", "This key was already used with a different request.", "header")],
            detail="Keys are single-use per request: the same key was sent with another method, path or body.",
        )
    return StoredResponse(row.status_code, row.body, row.location)


async def store(conn: AsyncConnection, workspace_id: str, key: str, fp: str, response: StoredResponse,
                ttl: timedelta) -> None:
    """Record the response. Only an *expired* record with the same key is replaced: a live one
    (a concurrent request that committed first) makes the insert fail, and the caller replays it."""
    await conn.execute(sa.delete(t.idempotency_keys).where(
        t.idempotency_keys.c.workspace_id == workspace_id, t.idempotency_keys.c.key == key,
        t.idempotency_keys.c.created_at <= utcnow() - ttl))
    await conn.execute(sa.insert(t.idempotency_keys).values(
        workspace_id=workspace_id, key=key, fingerprint=fp, status_code=response.status_code,
        body=response.body, location=response.location, created_at=utcnow()))


async def purge(conn: AsyncConnection, ttl: timedelta) -> int:
    """Forget keys older than ``ttl``; returns how many went."""
    result = await conn.execute(sa.delete(t.idempotency_keys).where(t.idempotency_keys.c.created_at <= utcnow() - ttl))
    return int(result.rowcount or 0)


async def run_once(
    db: Database,
    workspace_id: str,
    key: str,
    fp: str,
    ttl: timedelta,
    make: Callable[[AsyncConnection], Awaitable[StoredResponse]],
) -> tuple[StoredResponse, bool]:
    """Run ``make`` at most once per key: returns its response and whether it is a replay.

    ``make`` runs in the same transaction that records the response, so either both the
    object and the record exist or neither does. Two requests racing with one key: the
    loser's transaction is rolled back and it replays the winner's response.
    """
    for attempt in range(2):
        try:
            async with db.transaction() as conn:
                stored = await lookup(conn, workspace_id, key, fp, ttl)
                if stored is not None:
                    return stored, True
                response = await make(conn)
                await store(conn, workspace_id, key, fp, response, ttl)
                return response, False
        except IntegrityError:
            continue
    raise Conflict("A request with this Idempotency-Key is still in progress; retry it shortly.")
