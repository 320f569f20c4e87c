"""arq worker settings: thin jobs that call core, and the tick that keeps scorecards fresh and
connections synced."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from arq import cron

from tribeops.core.db import Database
from tribeops.core.jobs import execute, schedule_pending, schedule_syncs, sweep
from tribeops.core.runtime import Runtime
from tribeops.core.settings import Settings

from .queue import RUN_JOB, ArqQueue, redis_settings


# Jobs a worker process runs at once.
MAX_JOBS = 4


async def startup(ctx: dict[str, Any]) -> None:
    """Build the runtime once per worker process (settings, database, plugins)."""
    settings = ctx.get("tribeops_settings") or Settings.from_env()
    runtime = Runtime.create(settings, db=Database.from_settings(settings, jobs=MAX_JOBS))
    await runtime.start()
    ctx["runtime"] = runtime
    ctx["queue"] = ArqQueue(runtime.settings.redis_url or "", pool=ctx["redis"])


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["runtime"].close()


async def run_job(ctx: dict[str, Any], job_id: str) -> str | None:
    """Run one recorded job (a no-op when another worker already claimed it)."""
    runtime: Runtime = ctx["runtime"]
    return await execute(runtime.db, job_id, runtime.check_metrics,
                         timedelta(seconds=runtime.settings.job_stale_seconds), ctx["queue"], runtime.run_job)


async def tick(ctx: dict[str, Any]) -> int:
    """Queue aggregations for brands with new events, and the connections' syncs due; wake
    workers for queued jobs whose wake-up was lost (Redis restarted) or whose worker died."""
    runtime: Runtime = ctx["runtime"]
    queue: ArqQueue = ctx["queue"]
    woken = 0
    for job_id in [*await schedule_pending(runtime.db), *await schedule_syncs(runtime.db)]:
        woken += await queue.enqueue(job_id)
    for job_id, attempt in await sweep(runtime.db, timedelta(seconds=runtime.settings.job_stale_seconds)):
        woken += await queue.enqueue(job_id, attempt)
    return woken


run_job.__name__ = RUN_JOB


def worker_settings(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker`` (``tribeops worker`` builds the worker from them)."""
    if not settings.redis_url:
        raise ValueError("TRIBEOPS_REDIS_URL is not set: without Redis, jobs run inside `tribeops serve`")
    return {
        "functions": [run_job],
        "cron_jobs": [cron(tick, second=set(range(0, 60, 2)), run_at_startup=True, unique=False)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.redis_url),
        "ctx": {"tribeops_settings": settings},
        "max_jobs": MAX_JOBS,
        "job_timeout": 3600,
        "keep_result": 60,
        "poll_delay": 0.2,
        "handle_signals": True,
    }


class WorkerSettings:
    """For ``arq tribeops.workers.settings.WorkerSettings``; reads the environment when loaded."""

    functions = [run_job]
    cron_jobs = [cron(tick, second=set(range(0, 60, 2)), run_at_startup=True, unique=False)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings(Settings.from_env().redis_url or "redis://127.0.0.1:6379/0")
    max_jobs = MAX_JOBS
    job_timeout = 3600
    keep_result = 60
