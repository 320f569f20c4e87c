"""Liveness and readiness, without authentication."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Response, get
from litestar.openapi import ResponseSpec

from tribeops.core.health import readiness

from ..state import Runtime


class Health(msgspec.Struct):
    status: Literal["ok", "unavailable"]
    checks: Annotated[dict[Literal["database", "redis"], Annotated[str, msgspec.Meta(max_length=200)]],
                      msgspec.Meta(max_length=2)] = {}


@get("/healthz", operation_id="healthz", summary="Is the process alive", tags=["Health"], security=[{}],
     exclude_from_auth=True)
async def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", operation_id="readyz", summary="Can the process serve (database, Redis)", tags=["Health"],
     security=[{}], responses={503: ResponseSpec(Health, description="Not ready: a dependency is unreachable.")},
     exclude_from_auth=True)
async def readyz(runtime: Runtime) -> Response[Health]:
    checks = await readiness(runtime.settings, runtime.db)
    ready = all(value == "ok" for value in checks.values())
    return Response(Health(status="ok" if ready else "unavailable", checks=checks),  # type: ignore[arg-type]
                    status_code=200 if ready else 503)
