"""The ingest path's driver-level statements, and SQLite's background WAL checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from tribeops.core import bulk
from tribeops.core.db import Database, create_engine
from tribeops.core.services.workspaces import ensure_workspace

IDENTITY = ("workspace_id", "network", "external_id", "member_id", "handle", "profile", "first_seen_at",
            "last_seen_at")


def test_bulk_insert_and_update_round_trip_every_column_type(database_url: str) -> None:
    """Text, NULL, JSON and time columns come back as they went in; conflicts are skipped and
    only new rows are returned; updates find rows by key."""
    async def scenario() -> None:
        db = Database(create_engine(database_url))
        try:
            async with db.transaction() as conn:
                ws = (await ensure_workspace(conn, f"bulk-{uuid.uuid4().hex[:8]}")).workspace_id
                seen = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)
                rows = [(ws, "x", str(i), f"mbr_{i:028d}", f"user{i}" if i % 2 else None,
                         {"followers": i, "tags": ["a", "b"]} if i else {}, seen, seen + timedelta(seconds=i))
                        for i in range(3)]
                await bulk.insert(conn, "members", ("id", "workspace_id", "merged_into", "created_at", "updated_at"),
                                  [(r[3], ws, None, seen, seen) for r in rows])
                new = await bulk.insert(conn, "member_identities", IDENTITY, rows,
                                        conflict=("workspace_id", "network", "external_id"),
                                        returning=("external_id",))
                assert sorted(new) == [("0",), ("1",), ("2",)]
                again = await bulk.insert(conn, "member_identities", IDENTITY, rows[1:],
                                          conflict=("workspace_id", "network", "external_id"),
                                          returning=("external_id",))
                assert again == []
                later = seen + timedelta(days=1)
                await bulk.update(conn, "member_identities", ("handle", "profile", "last_seen_at"),
                                  ("workspace_id", "network", "external_id"),
                                  [("renamed", {"followers": 99}, later, ws, "x", "2")])
            async with db.reading() as conn:
                c = sa.table("member_identities", *(sa.column(n) for n in IDENTITY))
                stored = (await conn.execute(sa.select(c.c.external_id, c.c.handle, c.c.profile).where(
                    c.c.workspace_id == ws).order_by(c.c.external_id))).all()
                times = (await conn.execute(sa.text(
                    "SELECT last_seen_at FROM member_identities WHERE workspace_id = :w ORDER BY external_id"),
                    {"w": ws})).scalars().all()
        finally:
            await db.dispose()
        assert [(e, h, bulk.json_value(p)) for e, h, p in stored] == [
            ("0", None, {}), ("1", "user1", {"followers": 1, "tags": ["a", "b"]}), ("2", "renamed", {"followers": 99})]
        as_utc = [t if isinstance(t, datetime) else datetime.fromisoformat(t).replace(tzinfo=timezone.utc)
                  for t in times]
        assert [t.astimezone(timezone.utc) for t in as_utc] == [seen, seen + timedelta(seconds=1), later]

    asyncio.run(scenario())


def _rows_in_main_file(path: Path) -> int | None:
    """Rows of ``t`` in the database file itself, ignoring its write-ahead log (None: no table yet)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


async def _write(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        await conn.exec_driver_sql("INSERT INTO t VALUES (1), (2), (3)")


async def _in_main_file_within(path: Path, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while (rows := _rows_in_main_file(path)) != 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return rows


def _checkpointers() -> int:
    return sum(t.name == "tribeops-wal-checkpoint" and t.is_alive() for t in threading.enumerate())


def test_the_checkpointer_copies_committed_writes_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.db"
    before = _checkpointers()

    async def scenario() -> tuple[int | None, int]:
        db = Database(create_engine(f"sqlite+aiosqlite:///{path}"))
        db.start()
        try:
            await _write(db)
            return await _in_main_file_within(path, 10), _checkpointers()
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == (3, before + 1)
    assert _checkpointers() == before  # dispose stops the thread


def test_without_the_checkpointer_a_small_commit_stays_in_the_log(tmp_path: Path) -> None:
    """The control for the test above: committers leave small logs alone (the backstop is large)."""
    path = tmp_path / "plain.db"

    async def scenario() -> int | None:
        db = Database(create_engine(f"sqlite+aiosqlite:///{path}"))
        try:
            await _write(db)
            return await _in_main_file_within(path, 0.6)
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) is None


def test_the_checkpointer_waits_for_a_database_that_is_not_there_yet(tmp_path: Path) -> None:
    path = tmp_path / "later" / "db.sqlite"

    async def scenario() -> int | None:
        db = Database(create_engine(f"sqlite+aiosqlite:///{path}"))
        db.start()
        try:
            await asyncio.sleep(0.6)  # rounds fail quietly while the folder is missing
            path.parent.mkdir()
            await _write(db)
            return await _in_main_file_within(path, 10)
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == 3


def test_bulk_insert_refuses_a_value_longer_than_its_column(database_url: str) -> None:
    """Nothing is cut to fit: a too-long value fails the statement, on both databases' terms."""
    async def scenario() -> None:
        db = Database(create_engine(database_url))
        try:
            async with db.transaction() as conn:
                ws = (await ensure_workspace(conn, f"bulk-{uuid.uuid4().hex[:8]}")).workspace_id
            seen = datetime(2026, 3, 1, tzinfo=timezone.utc)
            long_id = "m" * 40  # members.id is 32 characters
            failed = False
            try:
                async with db.transaction() as conn:
                    await bulk.insert(conn, "members", ("id", "workspace_id", "merged_into", "created_at",
                                                        "updated_at"), [(long_id, ws, None, seen, seen)])
            except sa.exc.DBAPIError:
                failed = True
            async with db.reading() as conn:
                stored = (await conn.execute(sa.text("SELECT id FROM members WHERE workspace_id = :w"),
                                             {"w": ws})).scalars().all()
        finally:
            await db.dispose()
        if database_url.startswith("sqlite"):  # SQLite does not enforce lengths: stored whole, not cut
            assert stored == [long_id]
        else:
            assert failed and stored == []

    asyncio.run(scenario())


def test_a_started_sqlite_database_shortens_the_switch_interval_until_disposed(database_url: str) -> None:
    """The SQLite writer thread gets the interpreter back sooner; PostgreSQL has no such thread."""
    import sys

    from tribeops.core.db import SQLITE_SWITCH_INTERVAL

    before = sys.getswitchinterval()

    async def scenario() -> float:
        db = Database(create_engine(database_url))
        db.start()
        db.start()  # a second start keeps the process's own value to restore
        try:
            return sys.getswitchinterval()
        finally:
            await db.dispose()

    during = asyncio.run(scenario())
    sqlite = database_url.startswith("sqlite")
    assert during == (SQLITE_SWITCH_INTERVAL if sqlite else before)
    assert sys.getswitchinterval() == before


def test_a_pool_sized_for_its_jobs_leaves_a_writer_a_connection_while_every_job_waits_to_write(
        tmp_path: Path) -> None:
    """A SQLite rebuild keeps its connection while it waits for the process's turn to write (and
    holds a second one before); a writer that has the turn then asks for a connection. As many
    jobs as the pool had connections waited for the writer, and it for them, until the pool's
    timeout (30 s): every request with it."""
    from tribeops.core.settings import Settings

    jobs = 16  # more than SQLite's default pool: 5 kept, 10 more

    async def scenario() -> None:
        db = Database.from_settings(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
                                             in_process_jobs=jobs))
        waiting, go = asyncio.Event(), asyncio.Event()
        holding = 0

        async def rebuild() -> None:
            nonlocal holding
            async with db.engine.connect() as conn:
                async with db.engine.connect() as aside:  # its rows worked out on two connections
                    await (await aside.execution_options(readonly=True)).exec_driver_sql("SELECT 1")
                await (await conn.execution_options(readonly=True)).exec_driver_sql("SELECT 1")
                holding += 1
                if holding == jobs:
                    waiting.set()
                async with db.write_turn():  # then it waits for the turn, its connection kept
                    await go.wait()

        try:
            async with db.write_turn():
                rebuilds = [asyncio.create_task(rebuild()) for _ in range(jobs)]
                await asyncio.wait_for(waiting.wait(), timeout=10)
                # The writer with the turn gets a connection at once, not after 30 s.
                conn = await asyncio.wait_for(db.engine.connect(), timeout=5)
                await conn.close()
            go.set()
            await asyncio.wait_for(asyncio.gather(*rebuilds), timeout=10)
        finally:
            go.set()
            await db.dispose()

    asyncio.run(scenario())


def test_pools_grow_only_past_the_defaults_and_not_for_a_database_in_memory() -> None:
    from tribeops.core.db import pool_for

    assert pool_for("sqlite+aiosqlite:///t.db", 2) == {} and pool_for("postgresql+asyncpg://h/d", 5) == {}
    assert pool_for("sqlite+aiosqlite:///t.db", 16) == {"max_overflow": 2 * 16 + 10 - 5}
    assert pool_for("postgresql+asyncpg://h/d", 16) == {"max_overflow": 2 * 16 + 10 - 10}
    assert pool_for("sqlite+aiosqlite://", 16) == {}
