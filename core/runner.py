"""Running jobs inside the API process, for the embedded default (no Redis, no worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from .db import Database
from .jobs import Check, execute, schedule_pending, sweep

log = logging.getLogger("tribeops.jobs")


class InProcessRunner:
    """A :class:`~tribeops.core.jobs.JobQueue` whose worker is an asyncio task of this process.

    Every ``tick`` seconds it queues aggregations for brands with new events and sweeps lost
    jobs; one job runs at a time (SQLite has one writer anyway).
    """

    def __init__(self, db: Database, check: Check | None = None, tick: float = 1.0, stale: float = 30.0) -> None:
        self.db, self.check, self.tick, self.stale = db, check, tick, timedelta(seconds=stale)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def enqueue(self, job_id: str, attempt: int = 0) -> bool:
        self._queue.put_nowait(job_id)
        return True

    async def start(self) -> None:
        self._queue = asyncio.Queue()  # bound to the loop that serves
        self._tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._worker())]

    async def stop(self, grace: float = 10.0) -> None:
        """Cancel the scheduler and the job in hand, and wait up to ``grace`` seconds for them.

        Cancelled again every half second: on Python 3.11 a cancellation that arrives as an
        awaited ``wait_for`` completes is lost, and the worker would go back to waiting for the
        next job. A job that will not stop must not hold up the process's shutdown either (the
        sweep requeues it).
        """
        loop = asyncio.get_running_loop()
        deadline, pending = loop.time() + grace, set(self._tasks)
        while pending and loop.time() < deadline:
            for task in pending:
                task.cancel()
            done, pending = await asyncio.wait(pending, timeout=min(0.5, max(0.0, deadline - loop.time())))
            for task in done:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
        if pending:
            log.warning("%d job task(s) still running %s s after being cancelled; shutting down without them",
                        len(pending), grace)
        self._tasks = []

    async def _ticker(self) -> None:
        while True:
            try:
                for job_id in await schedule_pending(self.db):
                    await self.enqueue(job_id)
                for job_id, attempt in await sweep(self.db, self.stale):
                    await self.enqueue(job_id, attempt)
            except Exception:  # noqa: BLE001 - a bad tick must not stop the next one
                log.exception("job scheduling failed")
            await asyncio.sleep(self.tick)

    async def _worker(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                await execute(self.db, job_id, self.check)
            except Exception:  # noqa: BLE001
                log.exception("job %s could not run", job_id)
