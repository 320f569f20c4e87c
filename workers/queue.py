"""Waking arq workers through Redis. A failed wake-up is not an error: the job is in the
database, and the workers' sweep sends the wake-up again once Redis answers."""

from __future__ import annotations

import logging

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

log = logging.getLogger("tribeops.jobs")
RUN_JOB = "run_job"


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 0  # fail fast: the sweep retries, a request must not hang on Redis
    settings.conn_timeout = 2
    return settings


class ArqQueue:
    """A :class:`~tribeops.core.jobs.JobQueue` on arq."""

    def __init__(self, url: str, pool: ArqRedis | None = None) -> None:
        self.url = url
        self._pool = pool

    async def enqueue(self, job_id: str, attempt: int = 0, after: str | None = None) -> bool:
        try:
            if self._pool is None:
                self._pool = await create_pool(redis_settings(self.url))
            # One wake-up per attempt, and one more after each job of the brand it waited for:
            # arq refuses a second job with the same id while it exists (or its result is kept).
            wake_up = f"{job_id}:{attempt}" + (f":after:{after}" if after else "")
            await self._pool.enqueue_job(RUN_JOB, job_id, _job_id=wake_up)
            return True
        except Exception as exc:  # noqa: BLE001 - Redis down: the sweep will try again
            log.warning("could not wake a worker for job %s: %s", job_id, exc)
            self._pool = None
            return False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
