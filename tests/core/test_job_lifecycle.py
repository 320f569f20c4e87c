"""A job's life beyond the happy path: taken from an attempt that lost its heartbeat, given back
by a stopping worker, given up after its workers kept dying, forgotten a week after it ended;
aggregations scheduled once however many workers tick, and even under a steady stream of batches."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tribeops.core import jobs
from tribeops.core import tables as t
from tribeops.core.runtime import Runtime
from tribeops.core.services.brands import BrandService
from tribeops.core.services.context import utcnow

from ..scenarios import run_scenario, workspace_with_brand
from .test_job_runner import _hold_runs, _queued_job

J = t.jobs.c


async def _job(runtime: Runtime, job_id: str) -> Any:
    async with runtime.db.reading() as conn:
        return (await conn.execute(sa.select(t.jobs).where(J.id == job_id))).one()


async def _set(runtime: Runtime, job_id: str, **values: Any) -> None:
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.update(t.jobs).where(J.id == job_id).values(**values))


def test_an_attempt_whose_job_was_taken_from_it_does_not_record_its_end(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        job_id, _ = await _queued_job(runtime)
        first = await jobs.claim(runtime.db, job_id)
        await _set(runtime, job_id, status="queued")  # as the sweep does once its heartbeat is lost
        second = await jobs.claim(runtime.db, job_id)
        assert (first.attempts, second.attempts) == (1, 2)
        await jobs._finish(runtime.db, job_id, first.attempts, "succeeded", {"from": "the first"}, [])
        row = await _job(runtime, job_id)
        assert (row.status, row.result) == ("running", None)  # the second attempt has it
        await jobs._finish(runtime.db, job_id, second.attempts, "succeeded", {"from": "the second"}, [])
        row = await _job(runtime, job_id)
        assert (row.status, row.result) == ("succeeded", {"from": "the second"})

    run_scenario(database_url, scenario)


def test_a_stopping_workers_job_is_queued_again_at_once_on_postgresql(database_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        job_id, brand = await _queued_job(runtime)
        started, _ = _hold_runs(monkeypatch, brand)
        running = asyncio.create_task(jobs.execute(runtime.db, job_id))
        await asyncio.wait_for(started.wait(), timeout=10)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        row = await _job(runtime, job_id)
        # On SQLite the sweep queues it later (a cancelled writer may still hold the database).
        assert row.status == ("queued" if runtime.db.dialect == "postgresql" else "running")
        assert row.attempts == 1

    run_scenario(database_url, scenario)


def test_the_sweep_gives_up_after_the_last_attempt_and_forgets_old_jobs(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        dying, _ = await _queued_job(runtime)
        retried, _ = await _queued_job(runtime)
        old, _ = await _queued_job(runtime)
        recent, _ = await _queued_job(runtime)
        long_ago = utcnow() - timedelta(minutes=5)
        await _set(runtime, dying, status="running", attempts=jobs.MAX_ATTEMPTS, heartbeat_at=long_ago)
        await _set(runtime, retried, status="running", attempts=1, heartbeat_at=long_ago)
        await _set(runtime, old, status="succeeded", finished_at=utcnow() - jobs.RETENTION - timedelta(hours=1))
        await _set(runtime, recent, status="failed", finished_at=utcnow() - jobs.RETENTION + timedelta(hours=1))
        await jobs.sweep(runtime.db)
        gave_up = await _job(runtime, dying)
        assert gave_up.status == "failed" and gave_up.finished_at is not None
        assert gave_up.errors == [f"Gave up after {jobs.MAX_ATTEMPTS} attempts: each time, the worker running it "
                                  "stopped (out of memory or killed?)."]
        assert (await _job(runtime, retried)).status == "queued"
        async with runtime.db.reading() as conn:
            kept = set((await conn.execute(sa.select(J.id).where(J.id.in_((old, recent))))).scalars())
        assert kept == {recent}

    run_scenario(database_url, scenario)


async def _pending_brand(runtime: Runtime, touched_ago: float, fresh_ago: float | None) -> str:
    caller, brand = await workspace_with_brand(runtime)
    now = utcnow()
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.insert(t.agg_state).values(
            workspace_id=caller.workspace_id, brand_id=brand, watermark=0, pending=1,
            touched_at=now - timedelta(seconds=touched_ago),
            fresh_as_of=None if fresh_ago is None else now - timedelta(seconds=fresh_ago)))
    return brand


async def _jobs_of(runtime: Runtime, brand: str) -> int:
    async with runtime.db.reading() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).where(J.subject == brand))).scalar() or 0)


def test_a_steady_stream_of_batches_still_gets_its_aggregations(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        # A batch a moment ago: the debounce waits for the stream to pause...
        waiting = await _pending_brand(runtime, touched_ago=0.2, fresh_ago=3)
        # ... unless the scorecards are already far enough behind, or were never brought up to date.
        behind = await _pending_brand(runtime, touched_ago=0.2, fresh_ago=jobs.MAX_DELAY.total_seconds() + 5)
        never = await _pending_brand(runtime, touched_ago=0.2, fresh_ago=None)
        paused = await _pending_brand(runtime, touched_ago=5, fresh_ago=3)
        await jobs.schedule_pending(runtime.db)
        assert [await _jobs_of(runtime, b) for b in (waiting, behind, never, paused)] == [0, 1, 1, 1]

    run_scenario(database_url, scenario)


def test_schedulers_of_several_workers_at_once_queue_one_job_per_brand(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        brand = await _pending_brand(runtime, touched_ago=5, fresh_ago=60)
        await asyncio.gather(*(jobs.schedule_pending(runtime.db) for _ in range(4)))
        assert await _jobs_of(runtime, brand) == 1

    run_scenario(database_url, scenario)


def test_a_job_whose_brand_was_deleted_fails_saying_so_without_a_traceback(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        async with runtime.db.transaction() as conn:
            job_id = await jobs.insert_job(conn, caller.workspace_id, "scorecards.rebuild", brand)
            await BrandService(conn, caller).delete(brand)
        with caplog.at_level(logging.WARNING, logger="tribeops.jobs"):
            assert await jobs.execute(runtime.db, job_id, runtime.check_metrics) == "failed"
        assert (await _job(runtime, job_id)).errors == [f"NotFound: No brand with id {brand!r}."]
        mine = [r for r in caplog.records if job_id in r.getMessage()]
        assert mine and all(r.levelno == logging.WARNING and r.exc_info is None for r in mine)

    run_scenario(database_url, scenario)


def test_jobs_heartbeat_at_least_three_times_within_the_stale_delay() -> None:
    assert jobs.heartbeat_for(timedelta(seconds=30)) == timedelta(seconds=5)
    assert jobs.heartbeat_for(timedelta(seconds=3)) == timedelta(seconds=1)


def test_a_job_asked_for_while_one_that_does_as_much_waits_is_that_one(database_url: str) -> None:
    from tribeops.core.schemas.jobs import JobCreate, JobParams

    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)

        async def ask(kind: str) -> str:
            async with runtime.db.transaction() as conn:
                return (await jobs.JobService(conn, caller).create(
                    JobCreate(kind=kind, params=JobParams(brand_id=brand)))).id  # type: ignore[arg-type]

        first = await ask("scorecards.aggregate")
        assert await ask("scorecards.aggregate") == first
        rebuild = await ask("scorecards.rebuild")
        assert rebuild != first and await ask("scorecards.rebuild") == rebuild
        await jobs.claim(runtime.db, first)  # running now: the next aggregation is the rebuild's
        assert await ask("scorecards.aggregate") == rebuild
        await jobs.claim(runtime.db, rebuild)
        assert await ask("scorecards.aggregate") not in (first, rebuild)

    run_scenario(database_url, scenario)
