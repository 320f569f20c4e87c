"""Liveness and readiness, without authentication."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Response, get
from litestar.openapi import ResponseSpec

from tribeops.core.health import readiness

from ..state import Runtime


class Health(msgspec.Struct):
    """``degraded``: the database answers, Redis does not. The API serves (events are stored,
    jobs recorded); jobs wait for Redis to come back."""

    status: Literal["ok", "degraded", "unavailable"]
    checks: Annotated[dict[Literal["database", "redis"], Annotated[str, msgspec.Meta(max_length=200)]],
                      msgspec.Meta(max_length=2)] = {}


@get("/healthz", operation_id="healthz", summary="Is the process alive", tags=["Health"], security=[{}],
     exclude_from_auth=True)
async def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", operation_id="readyz", summary="Can the process serve (database, Redis)", tags=["Health"],
     security=[{}], responses={503: ResponseSpec(Health, description="Not ready: the database is unreachable.")},
     exclude_from_auth=True)
async def readyz(runtime: Runtime) -> Response[Health]:
    """200 while the database answers (`degraded` if Redis does not: jobs then wait for it,
    nothing else does); 503 when it does not."""
    checks = await readiness(runtime.settings, runtime.db)
    if checks.get("database") != "ok":
        status, code = "unavailable", 503
    else:
        status, code = ("ok", 200) if all(value == "ok" for value in checks.values()) else ("degraded", 200)
    return Response(Health(status=status, checks=checks), status_code=code)  # type: ignore[arg-type]
