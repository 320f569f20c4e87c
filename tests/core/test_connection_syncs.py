"""Connections synced by themselves: at once when new, then every ``sync_every_minutes``;
requests for a sync while one waits are that one. On a database of its own (see
``jobs_database_url``), where no app of the session schedules or runs jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tribeops.core import jobs, runner
from tribeops.core import tables as t
from tribeops.core.runner import InProcessRunner
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.connections import ConnectionCreate
from tribeops.core.schemas.jobs import JobCreate, JobCreateParams
from tribeops.core.services.connections import ConnectionService
from tribeops.core.services.context import utcnow
from tribeops.core.settings import Settings

from ..fakes import FakePlugin, FakePosts
from ..scenarios import workspace_with_brand

J = t.jobs.c


@pytest.fixture
def database_url(jobs_database_url: str) -> str:
    return jobs_database_url


def run(database_url: str, scenario: Callable[[Runtime], Awaitable[None]]) -> None:
    async def main() -> None:
        runtime = Runtime.create(Settings(database_url=database_url), plugins=[FakePlugin()])
        try:
            await scenario(runtime)
        finally:
            await runtime.close()

    asyncio.run(main())


async def _connection(runtime: Runtime, every: int | None) -> tuple[Any, str, str]:
    caller, brand = await workspace_with_brand(runtime)
    async with runtime.db.transaction() as conn:
        made = await ConnectionService(conn, caller, runtime.registry).create(ConnectionCreate(
            brand_id=brand, network="fakenet", name="n", config={"account": "acme"}, sync_every_minutes=every))
    return caller, brand, made.id


async def _subjects(runtime: Runtime, job_ids: list[str]) -> list[str]:
    async with runtime.db.reading() as conn:
        return list((await conn.execute(sa.select(J.subject).where(J.id.in_(job_ids)))).scalars())


async def _end(runtime: Runtime, job_id: str) -> None:
    claimed = await jobs.claim(runtime.db, job_id)
    await jobs._finish(runtime.db, job_id, claimed.attempts, "succeeded", None, [])


def test_a_connection_is_synced_at_once_then_every_interval_and_never_without_one(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        _, brand, every5 = await _connection(runtime, 5)
        _, _, manual = await _connection(runtime, None)
        now = utcnow()
        first = await jobs.schedule_syncs(runtime.db, now)
        assert await _subjects(runtime, first) == [every5]  # the manual one never
        async with runtime.db.reading() as conn:
            row = (await conn.execute(sa.select(t.jobs).where(J.id == first[0]))).one()
        assert (row.kind, row.brand_id, row.params) == ("connections.sync", brand,
                                                         {"brand_id": brand, "connection_id": every5})
        assert await _subjects(runtime, await jobs.schedule_syncs(runtime.db, now + timedelta(hours=1))) == []  # waiting
        await _end(runtime, first[0])
        assert await _subjects(runtime, await jobs.schedule_syncs(runtime.db, now + timedelta(minutes=4))) == []
        # A sync of one stream, asked for 3 minutes later, does not put off the next sync of them all.
        async with runtime.db.transaction() as conn:
            one = await jobs.insert_sync(conn, row.workspace_id, brand, every5, "posts")
        await _end(runtime, one)
        async with runtime.db.transaction() as conn:
            await conn.execute(sa.update(t.jobs).where(J.id == one).values(created_at=now + timedelta(minutes=3)))
        later = await jobs.schedule_syncs(runtime.db, now + timedelta(minutes=5, seconds=1))
        assert await _subjects(runtime, later) == [every5]
        await _end(runtime, later[0])
        async with runtime.db.transaction() as conn:  # a failed sync is not tried at every tick either
            await conn.execute(sa.update(t.jobs).where(J.id == later[0]).values(status="failed"))
        assert await _subjects(runtime, await jobs.schedule_syncs(runtime.db, now + timedelta(minutes=4))) == []
        async with runtime.db.transaction() as conn:
            await conn.execute(sa.delete(t.connections).where(t.connections.c.id == every5))
        assert await _subjects(runtime, await jobs.schedule_syncs(runtime.db, now + timedelta(days=1))) == []
        assert manual  # still there, never scheduled

    run(database_url, scenario)


def test_a_sync_asked_for_while_one_that_does_as_much_waits_is_that_one(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, _, connection = await _connection(runtime, None)

        async def ask(stream: str | None = None, from_start: bool = False) -> str:
            async with runtime.db.transaction() as conn:
                return (await jobs.JobService(conn, caller, runtime.registry).create(JobCreate(
                    kind="connections.sync", params=JobCreateParams(connection_id=connection, stream=stream,
                                                                    from_start=from_start)))).id

        posts = await ask("posts")
        assert await ask("posts") == posts
        every = await ask()  # a sync of one stream does not do all of a sync of every stream
        assert every != posts and await ask() == every and await ask("posts") == posts
        await _end(runtime, posts)
        assert await ask("posts") == every  # a sync of every stream does the posts too
        restart = await ask(from_start=True)  # one from its checkpoint does not read from the start
        assert restart != every
        await _end(runtime, every)
        assert await ask() == restart and await ask("posts", from_start=True) == restart

    run(database_url, scenario)


def test_the_in_process_runner_syncs_a_new_connection_by_itself(database_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "schedule_syncs", jobs.schedule_syncs)  # the session's apps have it off
    FakePosts.PAGES = {None: {"items": [{"id": "auto1", "kind": "post", "by": "acme", "at": "2026-04-01T10:00:00Z"}],
                              "next": None}}

    async def scenario(runtime: Runtime) -> None:
        _, brand, connection = await _connection(runtime, 60)
        here = InProcessRunner(runtime.db, tick=0.1, work=runtime.run_job)
        await here.start()
        try:
            for _ in range(200):
                async with runtime.db.reading() as conn:
                    done = (await conn.execute(sa.select(J.status, J.result).where(
                        J.subject == connection, J.status.in_(("succeeded", "failed"))))).all()
                if done:
                    break
                await asyncio.sleep(0.05)
        finally:
            await here.stop()
        assert [(status, [s["accepted"] for s in result["streams"]]) for status, result in done] == [("succeeded", [1])]
        async with runtime.db.reading() as conn:
            stored = (await conn.execute(sa.select(t.events.c.id).where(t.events.c.brand_id == brand))).scalars().all()
        assert stored == ["auto1"]

    run(database_url, scenario)


def test_a_slow_sync_does_not_hold_up_aggregations_in_process(database_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that takes minutes to answer must not stop scorecards catching up: syncs run in
    a lane of their own, beside the jobs the runner runs at once (one, here)."""
    FakePosts.PAGES = {None: {"items": [{"id": "slow1", "kind": "post", "by": "acme", "at": "2026-08-01T10:00:00Z"}],
                              "next": None}}
    fetching, release = asyncio.Event(), asyncio.Event()
    fetch = FakePosts.fetch

    async def slow(self: Any, context: Any, token: str | None) -> bytes:
        fetching.set()
        await release.wait()
        return await fetch(self, context, token)

    monkeypatch.setattr(FakePosts, "fetch", slow)

    async def scenario(runtime: Runtime) -> None:
        caller, brand, connection = await _connection(runtime, None)
        async with runtime.db.transaction() as conn:
            sync = await jobs.insert_sync(conn, caller.workspace_id, brand, connection)
            aggregation = await jobs.insert_job(conn, caller.workspace_id, "scorecards.aggregate", brand)
        here = InProcessRunner(runtime.db, tick=3600, at_once=1, work=runtime.run_job)
        await here.start()
        try:
            await here.enqueue(sync)
            await asyncio.wait_for(fetching.wait(), timeout=10)
            await here.enqueue(aggregation)
            assert await jobs.wait(runtime.db, aggregation, timeout=3, interval=0.05) == "succeeded"
            release.set()
            assert await jobs.wait(runtime.db, sync, timeout=10, interval=0.05) == "succeeded"
        finally:
            release.set()
            await here.stop()

    run(database_url, scenario)


def test_stopping_the_runner_cancels_a_sync_in_hand(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fetching = asyncio.Event()

    async def hangs(self: Any, context: Any, token: str | None) -> bytes:
        fetching.set()
        await asyncio.Event().wait()  # a network that never answers (its 300 s are not waited here)
        raise AssertionError("unreachable")

    monkeypatch.setattr(FakePosts, "fetch", hangs)

    async def scenario(runtime: Runtime) -> None:
        caller, brand, connection = await _connection(runtime, None)
        async with runtime.db.transaction() as conn:
            sync = await jobs.insert_sync(conn, caller.workspace_id, brand, connection)
        here = InProcessRunner(runtime.db, tick=3600, work=runtime.run_job)
        await here.start()
        await here.enqueue(sync)
        await asyncio.wait_for(fetching.wait(), timeout=10)
        await asyncio.wait_for(here.stop(grace=5), timeout=10)
        assert [task for task in asyncio.all_tasks() if "_sync" in repr(task.get_coro())] == []
        async with runtime.db.reading() as conn:  # given back (PostgreSQL), else left to the sweep
            status = (await conn.execute(sa.select(J.status).where(J.id == sync))).scalar()
        assert status == ("queued" if runtime.db.dialect == "postgresql" else "running")

    run(database_url, scenario)
