"""Running jobs inside the API process, for the embedded default (no Redis, no worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import sqlalchemy as sa

from . import tables as t
from .db import Database
from .jobs import SYNC, Check, Work, execute, schedule_pending, schedule_syncs, sweep

log = logging.getLogger("tribeops.jobs")
# Connection syncs run at once, beside the ``at_once`` other jobs: they mostly wait for networks.
SYNCS_AT_ONCE = 2


class InProcessRunner:
    """A :class:`~tribeops.core.jobs.JobQueue` whose worker is an asyncio task of this process.

    Every ``tick`` seconds it queues aggregations for brands with new events and the syncs
    due, and sweeps lost jobs. ``work`` runs each job (see :func:`~tribeops.core.jobs.execute`).
    Connection syncs, which mostly wait for networks (a page may take minutes), run in a lane of
    their own, :data:`SYNCS_AT_ONCE` at a time: slow networks do not hold up aggregations.
    ``at_once`` other jobs run at the same time, each of another brand (a brand's job waits
    queued while another of its jobs runs, see :func:`~tribeops.core.jobs.claim`): a long
    rebuild of one brand does not hold up the others' freshness. On SQLite they take turns to
    write; a rebuild works its rows out without the writer, and a run writes briefly.
    """

    def __init__(self, db: Database, check: Check | None = None, tick: float = 1.0, stale: float = 30.0,
                 at_once: int = 2, work: Work | None = None) -> None:
        if at_once < 1:
            raise ValueError(f"at_once must be at least 1, not {at_once}")
        self.db, self.check, self.tick, self.stale = db, check, tick, timedelta(seconds=stale)
        self.at_once, self.work = at_once, work
        self._syncs: set[asyncio.Task[None]] = set()
        self._sync_turns = asyncio.Semaphore(SYNCS_AT_ONCE)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._waiting: set[str] = set()  # the jobs in the queue
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def enqueue(self, job_id: str, attempt: int = 0, after: str | None = None) -> bool:
        if job_id not in self._waiting:  # the sweep wakes a job at every tick while it waits
            self._waiting.add(job_id)
            self._queue.put_nowait(job_id)
        return True

    async def start(self) -> None:
        self._queue, self._stopping = asyncio.Queue(), asyncio.Event()  # bound to the loop that serves
        self._waiting, self._syncs, self._sync_turns = set(), set(), asyncio.Semaphore(SYNCS_AT_ONCE)
        self._tasks = [asyncio.create_task(self._ticker()), *(asyncio.create_task(self._worker())
                                                              for _ in range(self.at_once))]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the scheduler and the workers, cancelling the jobs in hand (the sweep requeues them).

        Both loops also end at their next turn once told to stop: on Python 3.11 a cancellation
        that arrives as an awaited ``wait_for`` completes is lost, and the worker would otherwise
        go back to waiting for its next job, and this for it, for ever. After ``grace`` seconds
        what is still running is cancelled once more and left, with a warning.
        """
        self._stopping.set()
        tasks, self._tasks = [*self._tasks, *self._syncs], []
        if not tasks:
            return
        # Only the jobs in hand are cancelled: the scheduler ends its tick and stops at its next
        # turn, which stopping brings at once. A SQLite write transaction cancelled mid-statement
        # keeps the write lock on a connection that is never closed: the next writer waited out
        # its whole busy timeout (30 s), then failed with "database is locked".
        for worker in tasks[1:]:
            worker.cancel()
        done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d job task(s) still running %s s after being cancelled", len(pending), grace)

    async def _ticker(self) -> None:
        while not self._stopping.is_set():
            try:
                for job_id in [*await schedule_pending(self.db), *await schedule_syncs(self.db)]:
                    await self.enqueue(job_id)
                for job_id, attempt in await sweep(self.db, self.stale):
                    await self.enqueue(job_id, attempt)
            except Exception:  # noqa: BLE001 - a bad tick must not stop the next one
                log.exception("job scheduling failed")
            with contextlib.suppress(asyncio.TimeoutError):  # the next tick, or the stop
                await asyncio.wait_for(self._stopping.wait(), self.tick)

    async def _worker(self) -> None:
        while not self._stopping.is_set():
            job_id = await self._queue.get()
            self._waiting.discard(job_id)
            try:
                if await self._kind(job_id) == SYNC:
                    sync = asyncio.create_task(self._sync(job_id))
                    self._syncs.add(sync)
                    sync.add_done_callback(self._syncs.discard)
                    continue
                await execute(self.db, job_id, self.check, self.stale, self, self.work)
            except Exception:  # noqa: BLE001
                log.exception("job %s could not run", job_id)

    async def _kind(self, job_id: str) -> str | None:
        async with self.db.reading() as conn:
            return (await conn.execute(sa.select(t.jobs.c.kind).where(t.jobs.c.id == job_id))).scalar()

    async def _sync(self, job_id: str) -> None:
        async with self._sync_turns:
            try:
                await execute(self.db, job_id, self.check, self.stale, self, self.work)
            except Exception:  # noqa: BLE001
                log.exception("job %s could not run", job_id)
