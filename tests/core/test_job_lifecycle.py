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
from tribeops.core.processes import process_started
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.brands import BrandCreate
from tribeops.core.services.brands import BrandService
from tribeops.core.services.context import utcnow

from ..scenarios import run_scenario, workspace_with_brand
from .test_job_runner import _hold_runs, _queued_job


@pytest.fixture
def database_url(jobs_database_url: str) -> str:
    """This suite's own database (see ``jobs_database_url``)."""
    return jobs_database_url


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


def test_a_deleted_brand_takes_its_events_and_aggregates_with_it_and_is_never_scheduled(database_url: str) -> None:
    from tribeops.core.ingest import ingest_batch
    from tribeops.testing.events import EventBuilder

    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        async with runtime.db.transaction() as conn:
            kept = (await BrandService(conn, caller).create(BrandCreate(name="Kept"))).id
        queued = {b: await _queued(runtime, caller, b) for b in (brand, kept)}  # before the events: see _queued
        for b in (brand, kept):
            ev = EventBuilder(b)
            await ingest_batch(runtime.db, runtime.registry, caller, [
                ev.post(actor="acme", id=f"{b}-p", post_id="p"),
                ev.comment(actor="anna", id=f"{b}-c", post_id="c", in_reply_to="p"),
                ev.reply(actor="acme", id=f"{b}-r", post_id="r", in_reply_to="c")])  # answered: a link
        assert await jobs.execute(runtime.db, queued[kept]) == "succeeded"
        assert await jobs.execute(runtime.db, queued[brand]) == "succeeded"
        ev = EventBuilder(brand)  # new events, left pending when the brand goes
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="bob", id="late", in_reply_to="p")])

        async def rows(b: str) -> list[int]:
            async with runtime.db.reading() as conn:
                return [int((await conn.execute(sa.select(sa.func.count()).select_from(table)
                                                .where(table.c.brand_id == b))).scalar() or 0)
                        for table in (t.events, t.event_facts, t.rollups, t.member_days, t.agg_state)]

        assert (await rows(brand))[0] == 4 and all(await rows(brand))
        async with runtime.db.transaction() as conn:
            await BrandService(conn, caller).delete(brand)
        assert await rows(brand) == [0, 0, 0, 0, 0]
        assert all(await rows(kept))
        async with runtime.db.transaction() as conn:  # a brand's pending state left over (deleted by hand)
            await conn.execute(sa.insert(t.agg_state).values(workspace_id=caller.workspace_id, brand_id=brand,
                                                             watermark=0, pending=1, touched_at=utcnow()))
        assert brand not in [(await _job(runtime, j)).subject for j in await jobs.schedule_pending(
            runtime.db, debounce=timedelta(0))]
        await jobs.sweep(runtime.db)  # forgets what is left of a deleted brand (a batch stored just after)
        assert await rows(brand) == [0, 0, 0, 0, 0] and all(await rows(kept))

    run_scenario(database_url, scenario)


async def _queued(runtime: Runtime, caller: Any, brand: str) -> str:
    """The brand's queued aggregation. Queue it before the brand's events: once they are in, the
    scheduling tick of any runtime on the same database (the tests' shared app, say) would queue
    and run one of its own, and this one would wait for it (its ``execute`` answers None)."""
    async with runtime.db.transaction() as conn:
        return await jobs.insert_job(conn, caller.workspace_id, "scorecards.aggregate", brand)


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
    from tribeops.core.schemas.jobs import JobCreate, JobCreateParams

    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)

        async def ask(kind: str) -> str:
            async with runtime.db.transaction() as conn:
                return (await jobs.JobService(conn, caller).create(
                    JobCreate(kind=kind, params=JobCreateParams(brand_id=brand)))).id  # type: ignore[arg-type]

        first = await ask("scorecards.aggregate")
        assert await ask("scorecards.aggregate") == first
        rebuild = await ask("scorecards.rebuild")
        assert rebuild != first and await ask("scorecards.rebuild") == rebuild
        claimed = await jobs.claim(runtime.db, first)  # running now: the next aggregation is the rebuild's
        assert await ask("scorecards.aggregate") == rebuild
        await jobs._finish(runtime.db, first, claimed.attempts, "succeeded", None, [])
        await jobs.claim(runtime.db, rebuild)
        assert await ask("scorecards.aggregate") not in (first, rebuild)

    run_scenario(database_url, scenario)


class _Wakes:
    """A queue that only records its wake-ups."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str | None]] = []

    async def enqueue(self, job_id: str, attempt: int = 0, after: str | None = None) -> bool:
        self.calls.append((job_id, attempt, after))
        return True


def test_a_brands_job_waits_queued_without_a_worker_while_another_runs_then_is_woken(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        first, brand = await _queued_job(runtime)
        started, release = _hold_runs(monkeypatch, brand)
        wakes = _Wakes()
        running = asyncio.create_task(jobs.execute(runtime.db, first, queue=wakes))
        await asyncio.wait_for(started.wait(), timeout=10)
        async with runtime.db.transaction() as conn:
            second = await jobs.insert_job(conn, (await _job(runtime, first)).workspace_id, "scorecards.rebuild",
                                           brand)
        # Its worker is free at once (it used to wait for the brand's lock as long as the first ran).
        assert await asyncio.wait_for(jobs.execute(runtime.db, second, queue=wakes), timeout=10) is None
        row = await _job(runtime, second)
        assert (row.status, row.attempts) == ("queued", 0)
        other, _ = await _queued_job(runtime)  # another brand's job is not held up
        assert await jobs.execute(runtime.db, other, queue=wakes) == "succeeded"
        assert wakes.calls == []
        release.set()
        assert await running == "succeeded"
        assert wakes.calls == [(second, 0, first)]  # woken by the worker that ran the first
        assert await jobs.execute(runtime.db, second, queue=wakes) == "succeeded"
        assert (await _job(runtime, second)).attempts == 1

    run_scenario(database_url, scenario)


def test_a_job_whose_process_is_gone_from_this_host_or_its_pid_taken_by_another_is_queued_again_at_once(database_url: str) -> None:
    import os
    import socket
    import subprocess
    import sys

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid names no process now

    async def scenario(runtime: Runtime) -> None:
        crashed, _ = await _queued_job(runtime)
        alive, _ = await _queued_job(runtime)
        elsewhere, _ = await _queued_job(runtime)
        reused, _ = await _queued_job(runtime)  # its process gone, its pid now this process's
        unstamped, _ = await _queued_job(runtime)  # owned before start times were recorded
        host, pid = socket.gethostname(), os.getpid()
        started = process_started(pid)
        assert started is not None and jobs.this_process() == f"{host}:{pid}:{started}"
        now = utcnow()  # all heartbeating a moment ago
        for job_id, owner in ((crashed, f"{host}:{ended.pid}"), (alive, jobs.this_process()),
                              (elsewhere, f"another-host:{ended.pid}"), (reused, f"{host}:{pid}:{int(started) - 1}"),
                              (unstamped, f"{host}:{pid}")):
            await _set(runtime, job_id, status="running", attempts=1, heartbeat_at=now, owner=owner)
        woken = dict(await jobs.sweep(runtime.db))
        assert woken.get(crashed) == 1 and woken.get(reused) == 1
        assert alive not in woken and elsewhere not in woken and unstamped not in woken
        assert [(await _job(runtime, j)).status for j in (crashed, alive, elsewhere, reused, unstamped)] == [
            "queued", "running", "running", "queued", "running"]
        assert await jobs.execute(runtime.db, crashed) == "succeeded"
        assert (await _job(runtime, crashed)).owner == jobs.this_process()

    run_scenario(database_url, scenario)


def test_a_brand_deleted_while_its_run_writes_leaves_nothing_of_it_behind(database_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tribeops.core import aggregate
    from tribeops.core.ingest import ingest_batch
    from tribeops.testing.events import EventBuilder

    from ..scenarios import pause_first_call

    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        job_id = await _queued(runtime, caller, brand)
        ev = EventBuilder(brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [
            ev.post(actor="acme", id="p", post_id="p"), ev.comment(actor="anna", id="c", post_id="c", in_reply_to="p"),
            ev.reply(actor="acme", id="r", post_id="r", in_reply_to="c")])
        reached, go_on = pause_first_call(monkeypatch, aggregate, "_settle", brand)  # its rows written, not committed
        running = asyncio.create_task(jobs.execute(runtime.db, job_id))
        await asyncio.wait_for(reached.wait(), timeout=10)

        async def delete() -> None:
            async with runtime.db.transaction() as conn:
                await BrandService(conn, caller).delete(brand)

        deleting = asyncio.create_task(delete())
        await asyncio.sleep(0.3)  # the delete waits for the run
        go_on.set()
        assert await running == "succeeded"
        await deleting
        async with runtime.db.reading() as conn:
            left = [int((await conn.execute(sa.select(sa.func.count()).select_from(t.metadata.tables[table]).where(
                t.metadata.tables[table].c.brand_id == brand))).scalar() or 0) for table in aggregate.BRAND_DATA]
        assert left == [0] * len(aggregate.BRAND_DATA)

    run_scenario(database_url, scenario)
