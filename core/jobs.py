"""Jobs: recorded in the database, claimed atomically, heartbeated while they run.

A queue (in-process, or arq on Redis) only carries wake-ups: what must run is the set of
``queued`` rows. A job whose worker died stops heartbeating and the sweep queues it again;
aggregation writes in one transaction, so a rerun simply does the whole run again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import aggregate
from . import tables as t
from .db import Database
from .errors import NotFound
from .ids import new_id
from .pagination import paginate
from .schemas.common import Page
from .schemas.jobs import Job, JobCreate, JobParams
from .services.context import Service, utcnow

log = logging.getLogger("tribeops.jobs")
J = t.jobs.c
HEARTBEAT = timedelta(seconds=5)
STALE = timedelta(seconds=30)
DEBOUNCE = timedelta(seconds=1)


class JobQueue(Protocol):
    """Wakes a worker for a job; returns False when the wake-up could not be sent (the sweep
    sends it again). ``attempt`` tells wake-ups of successive attempts apart."""

    async def enqueue(self, job_id: str, attempt: int = 0) -> bool: ...


def to_job(row: Any) -> Job:
    return Job(id=row.id, kind=row.kind, params=msgspec.convert(row.params, JobParams), status=row.status,
               attempts=row.attempts, created_at=row.created_at, started_at=row.started_at,
               finished_at=row.finished_at, result=row.result, errors=row.errors)


class JobService(Service):
    async def create(self, data: JobCreate) -> Job:
        """Record a queued job (422 when the brand is not the caller's)."""
        await self.require_brand(data.params.brand_id, "/params/brand_id")
        return await self.get(await insert_job(self.conn, self.ws, data.kind, data.params.brand_id))

    async def get(self, job_id: str) -> Job:
        row = (await self.conn.execute(sa.select(t.jobs).where(J.workspace_id == self.ws, J.id == job_id))).first()
        if row is None:
            raise NotFound("job", job_id)
        return to_job(row)

    async def list(self, *, limit: int, starting_after: str | None, status: str | None) -> Page[Job]:
        query = sa.select(t.jobs).where(J.workspace_id == self.ws, *([J.status == status] if status else []))
        return await paginate(self.conn, query, J.id, secret=self.caller.cursor_secret, limit=limit,
                              starting_after=starting_after, to_item=to_job)


async def insert_job(conn: AsyncConnection, ws: str, kind: str, brand_id: str) -> str:
    job_id = new_id("job")
    await conn.execute(sa.insert(t.jobs).values(id=job_id, workspace_id=ws, kind=kind, subject=brand_id,
                                                params={"brand_id": brand_id}, status="queued", attempts=0,
                                                created_at=utcnow()))
    return job_id


async def claim(db: Database, job_id: str) -> Any | None:
    """Mark a queued job running; None when another worker got it first (or it is not queued)."""
    async with db.transaction() as conn:
        now = utcnow()
        result = await conn.execute(sa.update(t.jobs).where(J.id == job_id, J.status == "queued").values(
            status="running", started_at=now, heartbeat_at=now, attempts=J.attempts + 1))
        if result.rowcount != 1:
            return None
        return (await conn.execute(sa.select(t.jobs).where(J.id == job_id))).one()


async def _finish(db: Database, job_id: str, status: str, result: dict[str, Any] | None, errors: list[str]) -> None:
    async with db.transaction() as conn:
        await conn.execute(sa.update(t.jobs).where(J.id == job_id, J.status == "running").values(
            status=status, finished_at=utcnow(), result=result, errors=errors or None))


async def _heartbeat(db: Database, job_id: str) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT.total_seconds())
        async with db.transaction() as conn:
            await conn.execute(sa.update(t.jobs).where(J.id == job_id, J.status == "running")
                               .values(heartbeat_at=utcnow()))


Check = Callable[[Any], Awaitable[list[str]]]


async def execute(db: Database, job_id: str, check: Check | None = None) -> str | None:
    """Run one job if it can be claimed; returns its final status (None if not claimed).

    ``check`` runs after the work and returns problems to record beside the result (the
    metrics' plugin errors, for instance).
    """
    row = await claim(db, job_id)
    if row is None:
        return None
    beat = asyncio.create_task(_heartbeat(db, job_id))
    try:
        result = await aggregate.run(db, row.kind, row.workspace_id, row.params["brand_id"])
        errors = await check(row) if check else []
    except Exception as exc:  # noqa: BLE001 - recorded on the job, never lost
        log.exception("job %s failed", job_id)
        await _finish(db, job_id, "failed", None, [f"{type(exc).__name__}: {exc}"[:2000]])
        return "failed"
    finally:  # also when the job is cancelled (its process stopping): the sweep requeues it
        beat.cancel()
    await _finish(db, job_id, "succeeded", result, errors)
    return "succeeded"


async def wait(db: Database, job_id: str, timeout: float, interval: float = 0.5) -> str | None:
    """Poll until the job has finished; its final status, or None if ``timeout`` seconds passed first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with db.reading() as conn:
            status = (await conn.execute(sa.select(J.status).where(J.id == job_id))).scalar()
        if status in ("succeeded", "failed"):
            return str(status)
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(interval)


async def sweep(db: Database, older_than: timedelta = STALE) -> list[tuple[str, int]]:
    """Requeue jobs whose worker stopped heartbeating; return every queued job waiting longer than
    ``older_than`` (its wake-up may have been lost with Redis), to enqueue again."""
    cutoff = utcnow() - older_than
    async with db.transaction() as conn:
        await conn.execute(sa.update(t.jobs).where(J.status == "running", J.heartbeat_at < cutoff)
                           .values(status="queued"))
        rows = await conn.execute(sa.select(J.id, J.attempts).where(J.status == "queued", J.created_at < cutoff)
                                  .order_by(J.created_at).limit(500))
        return [(r.id, r.attempts) for r in rows]


async def schedule_pending(db: Database, debounce: timedelta = DEBOUNCE) -> list[str]:
    """Queue an aggregation for each brand with new events (touched at least ``debounce`` ago)
    that has none queued or running: clients that only send events see scorecards catch up.
    Brands flagged for a rebuild (see :func:`~tribeops.core.aggregate.mark_pending`) get one instead."""
    s = t.agg_state.c
    busy = sa.select(J.subject).where(J.status.in_(("queued", "running")), J.subject == s.brand_id,
                                      J.kind.in_(("scorecards.aggregate", "scorecards.rebuild")))
    async with db.transaction() as conn:
        due = (await conn.execute(sa.select(s.workspace_id, s.brand_id, s.rebuild).where(
            s.pending == 1, s.touched_at < utcnow() - debounce, ~sa.exists(busy)))).all()
        return [await insert_job(conn, row.workspace_id, "scorecards.rebuild" if row.rebuild else
                                 "scorecards.aggregate", row.brand_id) for row in due]
