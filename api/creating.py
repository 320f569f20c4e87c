"""Creating POSTs: 201 (202 for a job) + Location, and Stripe-style replay under an ``Idempotency-Key``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from tribeops.core import idempotency
from tribeops.core.services.context import Caller

from .state import AppState

IdempotencyKey = HeaderParameter(
    name="Idempotency-Key",
    required=False,
    max_length=255,
    min_length=1,
    # A tab or a Latin-1 letter makes a valid header value but not a key: keys are printable
    # ASCII, stated in the document and enforced by Litestar before `idempotency.check_key`.
    pattern=r"^[\x20-\x7E]+$",
    description="Retry-safe creation: the same key with the same body replays the first response (24 h). "
                "1 to 255 printable ASCII characters.",
)


async def create(
    request: Request[Any, Any, Any],
    runtime: AppState,
    caller: Caller,
    make: Callable[[AsyncConnection], Awaitable[msgspec.Struct]],
    location: str,
    status_code: int = 201,
    then: Callable[[Any], Awaitable[None]] | None = None,
) -> Response[Any]:
    """Run ``make`` in a transaction and answer ``status_code`` with ``Location: {location}/{id}``;
    then, once committed, ``then`` with what was made (not when a retry replays it)."""
    made: list[Any] = []

    async def respond(conn: AsyncConnection) -> idempotency.StoredResponse:
        created = await make(conn)
        made.append(created)
        return idempotency.StoredResponse(status_code, msgspec.json.encode(created), f"{location}/{created.id}")  # type: ignore[attr-defined]

    key = request.headers.get("idempotency-key")
    if key is None:
        async with runtime.db.transaction() as conn:
            stored = await respond(conn)
        replayed = None
    else:
        idempotency.check_key(key)
        fp = idempotency.fingerprint(request.method, request.url.path, await request.json())
        ttl = timedelta(hours=runtime.settings.idempotency_ttl_hours)
        stored, replayed = await idempotency.run_once(runtime.db, caller.workspace_id, key, fp, ttl, respond)
    if then is not None and made and not replayed:
        await then(made[-1])
    return _response(stored, replayed)


def _response(stored: idempotency.StoredResponse, replayed: bool | None) -> Response[Any]:
    headers = {"Location": stored.location} if stored.location else {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(content=stored.body, status_code=stored.status_code, media_type="application/json",
                    headers=headers)
