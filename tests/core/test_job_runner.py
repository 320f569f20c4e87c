"""The in-process job runner stops cleanly: a cancelled job leaves nothing running behind it,
a lost cancellation does not keep the runner going, and stopping waits for a job that will
not stop only so long."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from tribeops.core import aggregate, jobs
from tribeops.core import runner as runner_module
from tribeops.core.runner import InProcessRunner
from tribeops.core.runtime import Runtime

from ..scenarios import run_scenario, workspace_with_brand


@pytest.fixture
def database_url(jobs_database_url: str) -> str:
    """This suite's own database (see ``jobs_database_url``)."""
    return jobs_database_url


async def _queued_job(runtime: Runtime) -> tuple[str, str]:
    """A new brand's queued aggregation: (job id, brand id)."""
    caller, brand = await workspace_with_brand(runtime)
    async with runtime.db.transaction() as conn:
        return await jobs.insert_job(conn, caller.workspace_id, "scorecards.aggregate", brand), brand


def _hold_runs(monkeypatch: pytest.MonkeyPatch, brand: str, cancelled: str = "stops"
               ) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the brand's aggregation runs wait for ``release`` (set ``started`` first). Cancelled,
    one ``stops``, is ``lost`` (it returns as if done, like a ``wait_for`` that completes just
    then on Python 3.11), or is ``ignored`` (it goes on waiting). Runs of other brands (a
    runner's first tick queues those that earlier tests left pending) end at once. Returns
    (started, release)."""
    started, release = asyncio.Event(), asyncio.Event()

    async def held(db: Any, kind: str, ws: str, brand_id: str) -> dict[str, Any]:
        if brand_id != brand:
            return {}
        started.set()
        while True:
            try:
                await release.wait()
                return {}
            except asyncio.CancelledError:
                if cancelled == "lost":
                    return {}
                if cancelled == "stops":
                    raise

    monkeypatch.setattr(aggregate, "run", held)
    return started, release


def _running(name: str) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if not t.done() and t.get_coro().__name__ == name]


def test_a_cancelled_job_stops_its_heartbeat(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        job_id, brand = await _queued_job(runtime)
        started, _ = _hold_runs(monkeypatch, brand)
        running = asyncio.create_task(jobs.execute(runtime.db, job_id))
        await asyncio.wait_for(started.wait(), timeout=10)
        assert len(_running("_heartbeat")) == 1
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await asyncio.sleep(0)  # the heartbeat's cancellation is delivered
        assert _running("_heartbeat") == []

    run_scenario(database_url, scenario)


async def _runner_in_a_held_job(runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
                               cancelled: str) -> tuple[InProcessRunner, str, asyncio.Event]:
    """A started runner whose job is being held (see :func:`_hold_runs`): (runner, job id, release)."""
    job_id, brand = await _queued_job(runtime)
    started, release = _hold_runs(monkeypatch, brand, cancelled)
    runner = InProcessRunner(runtime.db, tick=3600)
    await runner.start()
    await runner.enqueue(job_id)
    await asyncio.wait_for(started.wait(), timeout=10)
    return runner, job_id, release


def test_a_lost_cancellation_does_not_keep_the_runner_going(database_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        runner, job_id, _ = await _runner_in_a_held_job(runtime, monkeypatch, "lost")
        # The job swallows the cancellation and finishes; the worker waits for the next job.
        await asyncio.wait_for(runner.stop(grace=10), timeout=10)
        assert _running("_worker") == [] and _running("_ticker") == []
        assert await jobs.wait(runtime.db, job_id, timeout=10) == "succeeded"

    run_scenario(database_url, scenario)


def test_stopping_waits_only_so_long_for_a_job_that_will_not_stop(database_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        runner, job_id, release = await _runner_in_a_held_job(runtime, monkeypatch, "ignored")
        await asyncio.wait_for(runner.stop(grace=0.2), timeout=10)
        assert len(_running("_worker")) == 1 and _running("_ticker") == []
        release.set()  # the stubborn job ends and records itself; its worker then stops too
        assert await jobs.wait(runtime.db, job_id, timeout=10) == "succeeded"
        await asyncio.sleep(0.1)
        assert _running("_worker") == []

    run_scenario(database_url, scenario)


@pytest.mark.parametrize("at_once", [1, 2])
def test_a_long_job_of_one_brand_holds_up_another_brands_only_when_one_job_runs_at_a_time(
        database_url: str, monkeypatch: pytest.MonkeyPatch, at_once: int) -> None:
    async def scenario(runtime: Runtime) -> None:
        held, brand = await _queued_job(runtime)
        started, release = _hold_runs(monkeypatch, brand)
        other, _ = await _queued_job(runtime)
        runner = InProcessRunner(runtime.db, tick=3600, at_once=at_once)
        await runner.start()
        try:
            await runner.enqueue(held)
            await asyncio.wait_for(started.wait(), timeout=10)
            await runner.enqueue(other)
            # The other brand's job runs beside the long one, or waits for it with one at a time.
            assert await jobs.wait(runtime.db, other, timeout=3, interval=0.05) == (
                "succeeded" if at_once > 1 else None)
            release.set()
            assert await jobs.wait(runtime.db, held, timeout=10, interval=0.05) == "succeeded"
            assert await jobs.wait(runtime.db, other, timeout=10, interval=0.05) == "succeeded"
        finally:
            release.set()
            await runner.stop()

    run_scenario(database_url, scenario)


def test_a_runner_runs_at_least_one_job_at_a_time() -> None:
    with pytest.raises(ValueError, match="at_once must be at least 1, not 0"):
        InProcessRunner(None, at_once=0)  # type: ignore[arg-type]


def test_stopping_lets_the_scheduler_finish_its_tick(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick stopped in the middle of a statement would leave its transaction open (on SQLite
    the write lock stays with a connection that is never closed, and the next writer waits out
    its busy timeout, then fails): the scheduler is left to end its tick instead."""
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        in_tick = asyncio.Event()

        async def slow_tick(db: Any, *args: Any) -> list[str]:
            async with db.transaction() as conn:
                await conn.execute(sa.text("UPDATE brands SET name = 'Ticked' WHERE id = :b"), {"b": brand})
                in_tick.set()
                await conn.execute(sa.text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                                           "WHERE x < 2000000) SELECT COUNT(*) FROM c"))
            return []

        monkeypatch.setattr(runner_module, "schedule_pending", slow_tick)
        runner = InProcessRunner(runtime.db, tick=3600)
        await runner.start()
        await asyncio.wait_for(in_tick.wait(), timeout=10)
        await asyncio.sleep(0.05)  # well into the statement
        await asyncio.wait_for(runner.stop(grace=10), timeout=15)
        assert _running("_ticker") == []

        async def write() -> None:
            async with runtime.db.transaction() as conn:
                await conn.execute(sa.text("UPDATE brands SET name = 'After' WHERE id = :b"), {"b": brand})

        await asyncio.wait_for(write(), timeout=5)
        async with runtime.db.reading() as conn:
            assert (await conn.execute(sa.text("SELECT name FROM brands WHERE id = :b"), {"b": brand})).scalar() \
                == "After"

    run_scenario(database_url, scenario)
