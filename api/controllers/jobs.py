"""/v1/jobs: long work, answered 202 with the job to poll."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery

from tribeops.core.jobs import JobService
from tribeops.core.schemas.common import Page
from tribeops.core.schemas.jobs import JOB_EXAMPLE, SYNC_EXAMPLE, Job, JobCreate, JobKind, JobStatus
from tribeops.core.services.context import Caller, utcnow

from ..auth import CallerDep
from ..creating import IdempotencyKey, create
from ..docs import CREATED, READ_ERRORS, RETRY_AFTER, WRITE_ERRORS, IdFilter, IdParam, Limit, StartingAfter, body, problems
from ..state import Runtime


class JobController(Controller):
    path = "/jobs"
    tags = ["Jobs"]

    @post(operation_id="createJob", summary="Start a job", opt={"scope": "write"}, status_code=202,
          responses=problems(*WRITE_ERRORS), response_headers=[*CREATED, RETRY_AFTER])
    async def create_job(self, request: Request[Any, Any, Any], runtime: Runtime, caller: CallerDep,
                         data: Annotated[JobCreate, body(JOB_EXAMPLE, "The job to run.", Sync=SYNC_EXAMPLE)],
                         idempotency_key: Annotated[str | None, IdempotencyKey] = None) -> Response[Job]:
        """Queue a job and answer at once: poll `Location` until `status` is `succeeded` or `failed`.
        (Aggregations also run by themselves shortly after events arrive, and syncs every
        connection's `sync_every_minutes`.) While the brand's same job is waiting (or a rebuild,
        for an aggregation; or the connection's sync of every stream, for a sync), it answers
        that job. Retried with the same `Idempotency-Key`, it answers the first job again rather
        than queue another."""
        return await start_job(request, runtime, caller, lambda jobs: jobs.create(data))

    @get(operation_id="listJobs", summary="List jobs", responses=problems(*READ_ERRORS))
    async def list_jobs(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                        starting_after: StartingAfter = None,
                        status: FromQuery[JobStatus | None] = None, kind: FromQuery[JobKind | None] = None,
                        brand_id: Annotated[str | None, IdFilter] = None) -> Page[Job]:
        """The workspace's jobs, newest first, the automatic aggregations included, filtered by
        status, kind and brand. Finished jobs are kept seven days."""
        async with runtime.db.reading() as conn:
            return await JobService(conn, caller).list(limit=limit, starting_after=starting_after, status=status,
                                                       kind=kind, brand_id=brand_id)

    @get("/{job_id:str}", operation_id="getJob", summary="Get a job", responses=problems(*READ_ERRORS),
         response_headers=[RETRY_AFTER])
    async def get_job(self, runtime: Runtime, caller: CallerDep, job_id: Annotated[str, IdParam]) -> Response[Job]:
        """Status, times, and the result or the errors (plugin errors included). Until it has
        finished, `Retry-After` says when to poll again."""
        async with runtime.db.reading() as conn:
            job = await JobService(conn, caller).get(job_id)
        wait = retry_after(job.status, job.started_at)
        return Response(job, headers={} if wait is None else {"Retry-After": str(wait)})


def retry_after(status: str, started_at: datetime | None) -> int | None:
    """Seconds to wait before polling a job again: 1 while it waits, then a fifth of how long it
    has been running (a long rebuild is not polled every second), 30 at most; None once it ended."""
    if status in ("succeeded", "failed"):
        return None
    if status == "queued" or started_at is None:
        return 1
    return max(1, min(30, round((utcnow() - started_at).total_seconds() / 5)))


async def start_job(request: Request[Any, Any, Any], runtime: Runtime, caller: Caller,
                    make: Callable[[JobService], Awaitable[Job]]) -> Response[Job]:
    """Queue the job ``make`` asks the service for (or find the one waiting that does the same),
    wake a worker once it is committed, and answer 202 with it, its `Location` and when to poll."""

    async def wake(job: Job) -> None:
        await runtime.queue.enqueue(job.id)  # a lost wake-up is sent again by the sweep

    response = await create(request, runtime, caller,
                            lambda conn: make(JobService(conn, caller, runtime.registry)),
                            "/v1/jobs", status_code=202, then=wake)
    job = msgspec.json.decode(response.content, type=Job)
    if (wait := retry_after(job.status, job.started_at)) is not None:
        response.headers["Retry-After"] = str(wait)
    return response
