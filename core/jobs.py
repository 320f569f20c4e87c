"""Jobs: recorded in the database, claimed atomically, heartbeated while they run.

A queue (in-process, or arq on Redis) only carries wake-ups: what must run is the set of
``queued`` rows. A job whose worker died stops heartbeating and the sweep queues it again;
aggregation writes in one transaction, so a rerun simply does the whole run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import aggregate
from . import tables as t
from .db import Database, advisory_locks
from .errors import FieldError, NotFound, TribeopsError, ValidationFailed
from .ids import new_id
from .pagination import paginate
from .processes import process_alive, process_started
from .schemas.common import Page
from .schemas.jobs import Job, JobCreate, JobCreateParams, JobParams, JobResult, SyncResult
from .services.context import Caller, Service, utcnow

if TYPE_CHECKING:
    from .plugins import Registry

log = logging.getLogger("tribeops.jobs")
J = t.jobs.c
HEARTBEAT = timedelta(seconds=5)
STALE = timedelta(seconds=30)
DEBOUNCE = timedelta(seconds=1)
# Under a steady stream of batches, less than DEBOUNCE apart, a brand is aggregated anyway once
# its scorecards are this much behind.
MAX_DELAY = timedelta(seconds=10)
MAX_ATTEMPTS = 5  # a job whose worker stopped this many times fails rather than take down another
RETENTION = timedelta(days=7)  # finished jobs are kept this long
SCHEDULE = 7303  # advisory lock class: one scheduling pass at a time, across workers


class JobQueue(Protocol):
    """Wakes a worker for a job; returns False when the wake-up could not be sent (the sweep
    sends it again). ``attempt`` tells wake-ups of successive attempts apart, ``after`` the
    wake-up a job gets when the job of its brand it waited for has ended (see :func:`claim`)."""

    async def enqueue(self, job_id: str, attempt: int = 0, after: str | None = None) -> bool: ...


SYNC = "connections.sync"


def to_job(row: Any) -> Job:
    result = None
    if row.result is not None:  # stored without its tag, which the job's kind tells
        result = msgspec.convert(row.result, SyncResult if row.kind == SYNC else JobResult)
    return Job(id=row.id, kind=row.kind, params=msgspec.convert(row.params, JobParams), status=row.status,
               attempts=row.attempts, created_at=row.created_at, started_at=row.started_at,
               finished_at=row.finished_at, result=result, errors=row.errors)


class JobService(Service):
    def __init__(self, conn: AsyncConnection, caller: Caller, registry: Registry | None = None) -> None:
        """``registry`` (the plugins' :class:`~tribeops.core.plugins.Registry`) checks a sync's
        connector and stream; without it, syncs are refused."""
        super().__init__(conn, caller)
        self.registry = registry

    async def create(self, data: JobCreate) -> Job:
        """Record a queued job (422 naming the parameter at fault), or give the one already
        waiting that does the same: a queued aggregation of the brand for an aggregation, a
        queued rebuild for either (it counts everything), a queued sync of the connection's
        streams for a sync of them or of one (from the start, for one from the start). Requests
        that pile up while the brand's run is under way so take one worker, not one each."""
        if data.kind == SYNC:
            return await self._sync(data)
        p = data.params
        if p.brand_id is None:
            raise ValidationFailed([FieldError("/params/brand_id", f"A {data.kind} job needs the brand's id.")])
        wrong = [FieldError(f"/params/{name}", f"Only a {SYNC} job takes a {name}.")
                 for name in ("connection_id", "stream", "from_start") if getattr(p, name) not in (None, False)]
        if wrong:
            raise ValidationFailed(wrong)
        brand_id = p.brand_id
        await self.require_brand(brand_id, "/params/brand_id")
        await advisory_locks(self.conn, SCHEDULE, [brand_id], shared=False)  # two requests at once: one job
        covering = ["scorecards.rebuild"] + (["scorecards.aggregate"] if data.kind == "scorecards.aggregate" else [])
        waiting = (await self.conn.execute(sa.select(J.id).where(
            J.workspace_id == self.ws, J.subject == brand_id, J.status == "queued", J.kind.in_(covering))
            .order_by(J.created_at).limit(1))).scalar()
        return await self.get(waiting or await insert_job(self.conn, self.ws, data.kind, brand_id))

    async def sync_now(self, connection_id: str) -> Job:
        """A sync of every stream of the connection named in a request's path: NotFound when it
        is not one of the workspace's, and what else is wrong with it named as the path."""
        return await self._sync(JobCreate(kind=SYNC, params=JobCreateParams(connection_id=connection_id)),
                                in_path=True)

    async def _sync(self, data: JobCreate, in_path: bool = False) -> Job:
        p = data.params

        def about_connection(message: str) -> FieldError:
            return (FieldError("/connection_id", message, location="path") if in_path
                    else FieldError("/params/connection_id", message))

        if p.connection_id is None:
            raise ValidationFailed([about_connection(f"A {SYNC} job needs the connection's id.")])
        c = t.connections.c
        row = (await self.conn.execute(sa.select(c.brand_id, c.network, c.config).where(
            c.workspace_id == self.ws, c.id == p.connection_id))).first()
        if row is None:
            if in_path:
                raise NotFound("connection", p.connection_id)
            raise ValidationFailed([about_connection(f"No connection with id {p.connection_id!r} in this workspace.")])
        problems = []
        if p.brand_id is not None and p.brand_id != row.brand_id:
            problems.append(FieldError("/params/brand_id", f"The connection is of brand {row.brand_id!r}, not "
                                                           f"{p.brand_id!r} (the brand may be left out)."))
        problems += sync_problems(self.registry, row.network, row.config, p.stream, about_connection)
        if problems:
            raise ValidationFailed(problems)
        await advisory_locks(self.conn, SCHEDULE, [p.connection_id], shared=False)  # two requests at once: one job
        waiting = (await self.conn.execute(sa.select(J.id, J.params).where(
            J.workspace_id == self.ws, J.subject == p.connection_id, J.status == "queued", J.kind == SYNC)
            .order_by(J.created_at))).all()
        covering = next((w.id for w in waiting if w.params.get("stream") in (None, p.stream)
                         and (w.params.get("from_start") or not p.from_start)), None)
        return await self.get(covering or await insert_sync(self.conn, self.ws, row.brand_id, p.connection_id,
                                                            p.stream, p.from_start))

    async def get(self, job_id: str) -> Job:
        row = (await self.conn.execute(sa.select(t.jobs).where(J.workspace_id == self.ws, J.id == job_id))).first()
        if row is None:
            raise NotFound("job", job_id)
        return to_job(row)

    async def list(self, *, limit: int, starting_after: str | None, status: str | None = None,
                   kind: str | None = None, brand_id: str | None = None) -> Page[Job]:
        where = [J.workspace_id == self.ws]
        for column, value in ((J.status, status), (J.kind, kind), (J.brand_id, brand_id)):
            if value:
                where.append(column == value)
        query = sa.select(t.jobs).where(*where)
        return await paginate(self.conn, query, J.id, secret=self.caller.cursor_secret, limit=limit,
                              starting_after=starting_after, to_item=to_job)


def sync_problems(registry: Registry | None, network: str, config: Any, stream: str | None,
                  about_connection: Callable[[str], FieldError]) -> list[FieldError]:
    """Why a connection of ``network`` (with ``config``) cannot be synced (``stream`` alone, if
    given): its connector is not installed, does not poll, or has no such stream. What is about
    the connection is named by ``about_connection``."""
    registered = registry.connectors.get(network) if registry is not None else None
    if registered is None:
        return [about_connection(f"No connector for {network!r} is installed: its plugin may have been removed "
                                 "or disabled.")]
    connector = registered.item
    if "polling" not in connector.capabilities:
        return [about_connection(f"The {network} connector does not poll its network "
                                 f"({', '.join(connector.capabilities)}): there is nothing to sync.")]
    if stream is not None:
        try:
            names = [s.name for s in connector(connector.parse_config(config)).streams()]
        except ValidationFailed as exc:
            wrong = "; ".join(f"{e.pointer or '(config)'}: {e.message}" for e in exc.errors)
            return [about_connection(f"The connection's config does not satisfy its connector any more ({wrong}): "
                                     "update it first.")]
        if stream not in names:
            return [FieldError("/params/stream", f"The {network} connector has no stream {stream!r}; "
                                                 f"it has {', '.join(names)}.")]
    return []


async def insert_job(conn: AsyncConnection, ws: str, kind: str, brand_id: str) -> str:
    """A queued scorecard job of the brand (whose turns it takes)."""
    return await _insert(conn, ws, kind, brand_id, brand_id, {"brand_id": brand_id})


async def insert_sync(conn: AsyncConnection, ws: str, brand_id: str, connection_id: str,
                      stream: str | None = None, from_start: bool = False) -> str:
    """A queued sync of the connection (whose turns it takes): of ``stream``, or of every stream;
    from each stream's checkpoint, or ``from_start``."""
    params = {"brand_id": brand_id, "connection_id": connection_id, **({"stream": stream} if stream else {}),
              **({"from_start": True} if from_start else {})}
    return await _insert(conn, ws, SYNC, connection_id, brand_id, params)


async def _insert(conn: AsyncConnection, ws: str, kind: str, subject: str, brand_id: str,
                  params: dict[str, Any]) -> str:
    job_id = new_id("job")
    await conn.execute(sa.insert(t.jobs).values(id=job_id, workspace_id=ws, kind=kind, subject=subject,
                                                brand_id=brand_id, params=params, status="queued", attempts=0,
                                                created_at=utcnow()))
    return job_id


async def claim(db: Database, job_id: str) -> Any | None:
    """Mark a queued job running; None when another worker got it first (or it is not queued),
    or when another job of its brand is running: it stays queued, and the worker that runs that
    one wakes it when done (see :func:`execute`). Runs of a brand go one at a time anyway (see
    :data:`~tribeops.core.aggregate.ONE_RUN`): a job that waited for the lock would hold a worker's
    slot all that time, and a few requests during one long rebuild would take every slot, the
    workers' own scheduling tick included."""
    async with db.transaction() as conn:
        subject = (await conn.execute(sa.select(J.subject).where(J.id == job_id, J.status == "queued"))).scalar()
        if subject is None:
            return None
        await advisory_locks(conn, SCHEDULE, [subject], shared=False)  # two of the brand's jobs woken at once
        running = (await conn.execute(sa.select(J.id).where(J.subject == subject, J.status == "running")
                                      .limit(1))).scalar()
        if running is not None:
            log.debug("job %s waits for job %s of the same brand", job_id, running)
            return None
        now = utcnow()
        result = await conn.execute(sa.update(t.jobs).where(J.id == job_id, J.status == "queued").values(
            status="running", started_at=now, heartbeat_at=now, attempts=J.attempts + 1, owner=this_process()))
        if result.rowcount != 1:
            return None
        return (await conn.execute(sa.select(t.jobs).where(J.id == job_id))).one()


async def _finish(db: Database, job_id: str, attempt: int, status: str, result: dict[str, Any] | None,
                  errors: list[str]) -> None:
    """Record the end of ``attempt`` of the job, unless the job was taken from it meanwhile (its
    heartbeat lost, the sweep queued it again): the attempt that has it now records its own."""
    async with db.transaction() as conn:
        done = await conn.execute(sa.update(t.jobs).where(
            J.id == job_id, J.status == "running", J.attempts == attempt).values(
            status=status, finished_at=utcnow(), result=result, errors=errors or None))
    if done.rowcount != 1:
        log.warning("job %s: attempt %d ended (%s) after the job was taken from it; not recorded",
                    job_id, attempt, status)


def heartbeat_for(stale: timedelta) -> timedelta:
    """How often a running job heartbeats when the sweep takes ``stale`` silence for a dead
    worker: at least three beats within it."""
    return min(HEARTBEAT, stale / 3)


async def _heartbeat(db: Database, job_id: str, attempt: int, every: timedelta) -> None:
    """Keep the attempt's job alive; a beat that fails is logged and the next one tried (only
    beats missed for the stale delay make the sweep queue the job again)."""
    while True:
        await asyncio.sleep(every.total_seconds())
        try:
            async with db.transaction() as conn:
                await conn.execute(sa.update(t.jobs).where(J.id == job_id, J.status == "running",
                                                           J.attempts == attempt).values(heartbeat_at=utcnow()))
        except Exception as exc:  # noqa: BLE001 - the job goes on; a lasting failure shows as a stale job
            log.warning("job %s: heartbeat failed (%s: %s)", job_id, type(exc).__name__, exc)


async def _give_back(db: Database, job_id: str, attempt: int) -> None:
    """A stopping worker's job, queued again at once for another worker (rather than after
    ``STALE``). Not on SQLite: a write transaction cancelled mid-statement may still hold the
    writer there, and the next one would wait for it; the sweep queues the job later."""
    if db.dialect == "sqlite":
        return
    try:
        async with db.transaction() as conn:
            await conn.execute(sa.update(t.jobs).where(J.id == job_id, J.status == "running",
                                                       J.attempts == attempt).values(status="queued"))
    except Exception as exc:  # noqa: BLE001 - the sweep queues it later
        log.warning("job %s: could not be queued again at once (%s)", job_id, exc)


Check = Callable[[Any], Awaitable[list[str]]]
# What runs a claimed job (given its row) and returns its result (see :class:`JobFailed`).
Work = Callable[[Any], Awaitable[dict[str, Any]]]


class JobFailed(Exception):
    """Raised by a job's work that failed after doing part of it: the job fails with
    ``errors``, and ``result`` says what was done (a sync's pages stored before one failed)."""

    def __init__(self, errors: list[str], result: dict[str, Any] | None = None) -> None:
        super().__init__("; ".join(errors))
        self.errors, self.result = errors, result


async def execute(db: Database, job_id: str, check: Check | None = None, stale: timedelta = STALE,
                  queue: JobQueue | None = None, work: Work | None = None) -> str | None:
    """Run one job if it can be claimed; returns its final status (None if not claimed).

    ``work`` runs it (see :meth:`~tribeops.core.runtime.Runtime.run_job`, which runs every
    kind); without it, only the scorecard jobs can run, which need nothing but the database.

    ``check`` runs after the work and returns problems to record beside the result (the
    metrics' plugin errors, for instance). It heartbeats often enough for the sweep's ``stale``
    delay (see :func:`heartbeat_for`). Cancelled (its worker stopping), the job is queued again
    for another worker (see :func:`_give_back`). Once it has ended, the next job of its brand
    is woken through ``queue`` (one left waiting for it, see :func:`claim`).
    """
    row = await claim(db, job_id)
    if row is None:
        return None
    beat = asyncio.create_task(_heartbeat(db, job_id, row.attempts, heartbeat_for(stale)))
    try:
        if work is not None:
            result = await work(row)
        elif row.kind == SYNC:
            raise JobFailed([f"{SYNC} jobs run where the plugins are loaded (a runtime's run_job)"])
        else:
            result = await aggregate.run(db, row.kind, row.workspace_id, row.params["brand_id"])
        errors = await check(row) if check else []
    except asyncio.CancelledError:
        beat.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(_give_back(db, job_id, row.attempts)), 5)
        raise
    except JobFailed as exc:
        log.warning("job %s failed: %s", job_id, exc)
        await _finish(db, job_id, row.attempts, "failed", exc.result, [e[:2000] for e in exc.errors[:100]])
        status = "failed"
    except Exception as exc:  # noqa: BLE001 - recorded on the job, never lost
        if isinstance(exc, TribeopsError):  # the job's own problem (its brand deleted, say)
            log.warning("job %s failed: %s", job_id, exc)
        else:
            log.exception("job %s failed", job_id)
        await _finish(db, job_id, row.attempts, "failed", None, [f"{type(exc).__name__}: {exc}"[:2000]])
        status = "failed"
    else:
        await _finish(db, job_id, row.attempts, "succeeded", result, errors)
        status = "succeeded"
    finally:
        beat.cancel()
    if queue is not None:
        await _wake_next(db, queue, row.subject, job_id)
    return status


async def _wake_next(db: Database, queue: JobQueue, subject: str, after: str) -> None:
    """Wake the brand's oldest queued job, which may have been left waiting for ``after``."""
    try:
        async with db.reading() as conn:
            following = (await conn.execute(sa.select(J.id, J.attempts).where(
                J.subject == subject, J.status == "queued").order_by(J.created_at).limit(1))).first()
        if following is not None:
            await queue.enqueue(following.id, following.attempts, after=after)
    except Exception as exc:  # noqa: BLE001 - the sweep wakes it later
        log.warning("job %s: could not wake the next job of its brand (%s)", after, exc)


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


def this_process() -> str:
    """This process, as a job's ``owner``: ``host:pid:started`` (see
    :func:`~tribeops.core.processes.process_started`), or ``host:pid`` where that is not known."""
    return _owner(os.getpid())


@functools.cache
def _owner(pid: int) -> str:
    """Worked out once per process (a child forked from it has a pid of its own)."""
    started = process_started(pid)
    return f"{socket.gethostname()}:{pid}" + (f":{started}" if started else "")


async def _gone(conn: AsyncConnection) -> list[str]:
    """Running jobs whose process is gone from this host (killed, crashed), or was followed by
    another with the same pid (a container restarted): no need to wait for their heartbeat to
    go stale. A restarted server runs its brand's job again at once."""
    host = socket.gethostname() + ":"
    rows = await conn.execute(sa.select(J.id, J.owner).where(J.status == "running",
                                                             J.owner.startswith(host, autoescape=True)))
    gone = []
    for row in rows:
        pid, _, started = row.owner[len(host):].partition(":")
        if pid.isdigit() and (started == "" or started.isdigit()) and not process_alive(int(pid), started or None):
            gone.append(row.id)
    return gone


async def sweep(db: Database, older_than: timedelta = STALE) -> list[tuple[str, int]]:
    """Requeue jobs whose worker stopped heartbeating or whose process is gone from this host
    (fail those it stopped ``MAX_ATTEMPTS`` times: a job that takes its worker down would take
    the next one down too), forget jobs finished more than ``RETENTION`` ago, and return every
    queued job waiting longer than ``older_than`` (its wake-up may have been lost with Redis),
    and those just requeued, to enqueue again."""
    now = utcnow()
    cutoff = now - older_than
    async with db.transaction() as conn:
        gone = await _gone(conn)
        stale = [J.status == "running", sa.or_(J.heartbeat_at < cutoff, J.id.in_(gone))]
        await conn.execute(sa.update(t.jobs).where(*stale, J.attempts >= MAX_ATTEMPTS).values(
            status="failed", finished_at=now,
            errors=[f"Gave up after {MAX_ATTEMPTS} attempts: each time, the worker running it stopped "
                    "(out of memory or killed?)."]))
        await conn.execute(sa.update(t.jobs).where(*stale).values(status="queued"))
        await conn.execute(sa.delete(t.jobs).where(J.status.in_(("succeeded", "failed")),
                                                   J.finished_at < now - RETENTION))
        for brand_id in await aggregate.forget_deleted_brands(conn):
            log.info("forgot the events and aggregates left of deleted brand %s", brand_id)
        rows = await conn.execute(sa.select(J.id, J.attempts).where(
            J.status == "queued", sa.or_(J.created_at < cutoff, J.id.in_(gone))).order_by(J.created_at).limit(500))
        return [(r.id, r.attempts) for r in rows]


async def schedule_pending(db: Database, debounce: timedelta = DEBOUNCE, max_delay: timedelta = MAX_DELAY
                           ) -> list[str]:
    """Queue an aggregation for each brand with new events that has none queued or running:
    clients that only send events see scorecards catch up. A brand is due once its last batch
    is ``debounce`` old, or, under batches that keep coming closer than that, once its
    scorecards are ``max_delay`` behind. Brands flagged for a rebuild (see
    :func:`~tribeops.core.aggregate.mark_pending`) get one instead.

    One pass at a time across workers (on PostgreSQL, an advisory lock; on SQLite, the
    writer): two would each see no job of a brand and queue one each."""
    s = t.agg_state.c
    busy = sa.select(J.subject).where(J.status.in_(("queued", "running")), J.subject == s.brand_id,
                                      J.kind.in_(("scorecards.aggregate", "scorecards.rebuild")))
    now = utcnow()
    settled = sa.or_(s.touched_at < now - debounce, s.fresh_as_of.is_(None), s.fresh_as_of < now - max_delay)
    # A brand deleted meanwhile has nothing left to aggregate (its job would fail, tick after tick).
    exists = sa.select(t.brands.c.id).where(t.brands.c.id == s.brand_id)
    due = sa.select(s.workspace_id, s.brand_id, s.rebuild).where(s.pending == 1, settled, ~sa.exists(busy),
                                                                 sa.exists(exists))
    async with db.reading() as conn:  # most ticks find none: SQLite's one writer is left to ingest
        if (await conn.execute(due.limit(1))).first() is None:
            return []
    async with db.transaction() as conn:
        await advisory_locks(conn, SCHEDULE, ["schedule"], shared=False)
        return [await insert_job(conn, row.workspace_id, "scorecards.rebuild" if row.rebuild else
                                 "scorecards.aggregate", row.brand_id) for row in (await conn.execute(due)).all()]


async def schedule_syncs(db: Database, now: datetime | None = None) -> list[str]:
    """Queue a sync of each connection that is due one: ``sync_every_minutes`` after its last
    sync was queued (at once, for one never synced), with none queued or running. A sync that
    failed is so tried again at the next interval, not at every tick. Looked for in a read
    transaction first: at most ticks nothing is due, and SQLite's one writer is left to ingest."""
    now = now or utcnow()
    async with db.reading() as conn:
        if not await _due_syncs(conn, now):
            return []
    async with db.transaction() as conn:
        await advisory_locks(conn, SCHEDULE, ["schedule"], shared=False)  # one pass at a time (see schedule_pending)
        return [await insert_sync(conn, r.workspace_id, r.brand_id, r.id) for r in await _due_syncs(conn, now)]


def every_stream() -> Any:
    """Of the sync jobs: those of every stream of their connection (no ``stream`` in their params)."""
    return J.params["stream"].as_string().is_(None)


async def _due_syncs(conn: AsyncConnection, now: datetime) -> list[Any]:
    c = t.connections.c
    # Timed from the last sync of every stream: one of a single stream, asked for between, syncs that one only.
    last = sa.select(sa.func.max(J.created_at)).where(J.subject == c.id, J.kind == SYNC, every_stream()
                                                      ).scalar_subquery()
    busy = sa.select(J.id).where(J.subject == c.id, J.kind == SYNC, J.status.in_(("queued", "running")))
    rows = (await conn.execute(sa.select(c.id, c.workspace_id, c.brand_id, c.sync_every_minutes, last.label("last"))
                               .where(c.sync_every_minutes.is_not(None), ~sa.exists(busy)))).all()
    return [r for r in rows if r.last is None or r.last <= now - timedelta(minutes=r.sync_every_minutes)]
