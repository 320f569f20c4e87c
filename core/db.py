"""Engine and session factory, the same code for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .settings import Settings

log = logging.getLogger("tribeops.db")
# Pages of write-ahead log after which a committing writer copies it back into the database file
# itself (SQLite's default is 1,000). A backstop: with a WalCheckpointer running, writers rarely
# get there, and without one (CLI commands) fewer, larger checkpoints copy each hot page once.
WAL_BACKSTOP_PAGES = 8192
# Page cache per SQLite connection, in KiB (SQLite's default is 2 MiB).
SQLITE_CACHE_KIB = 65536
# How long (seconds) the event loop's thread may keep the interpreter while a SQLite driver
# thread, back from the database, waits for it (Python's default is 5 ms). The ingest writer
# waits once per statement and holds the one write lock meanwhile: under load, with the
# default, 45% of its wall time was spent off the CPU, mostly in that wait. Measured in
# interleaved runs of bench/ingest.py: 9,821, 9,522 and 9,737 events/s with 0.5 ms, against
# 9,336, 8,762 and 8,885 with the default.
SQLITE_SWITCH_INTERVAL = 0.0005


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, emit BEGIN, so writers can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; the busy timeout queues writers instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 64 MiB of page cache per connection (the default is 2 MiB): index inserts and the
    # GROUP BY sorts of aggregation stay in memory instead of re-reading pages.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    cursor.execute("PRAGMA journal_size_limit=67108864")  # a log grown past 64 MiB is cut back once reset
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # A deferred transaction that reads then writes can fail at once with "database is locked"
    # (the busy timeout does not apply to lock upgrades); writers therefore begin IMMEDIATE.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")


# Connections a pool keeps (then may open beyond), as engines get them by default: SQLite's
# SQLAlchemy default, PostgreSQL's set in :func:`create_engine`.
POOL = {"sqlite": (5, 10), "postgresql": (10, 10)}
# Connections left for requests whatever the jobs hold.
POOL_FOR_REQUESTS = 10


def pool_for(url: str, jobs: int) -> dict[str, int]:
    """Pool settings for a process that runs ``jobs`` jobs at once, where the defaults fall
    short: a SQLite rebuild holds two connections while it works its rows out, and keeps one
    while it waits for its turn to write, where a writer that has the turn asks for one. With as
    many rebuilds waiting as the pool has connections, that writer waited out the pool's
    timeout (30 s), and so did every request, each rebuild failing in turn."""
    backend = sa.engine.make_url(url).get_backend_name()
    if backend not in POOL or (backend == "sqlite" and sqlite_file(url) is None):
        return {}  # an in-memory SQLite database has a pool of its own kind
    size, overflow = POOL[backend]
    need = 2 * jobs + POOL_FOR_REQUESTS
    return {"max_overflow": need - size} if size + overflow < need else {}


def create_engine(url: str, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the per-backend settings tribeops relies on."""
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, **kwargs)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", POOL["postgresql"][0])
    kwargs.setdefault("max_overflow", POOL["postgresql"][1])
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, echo=echo, **kwargs)


async def advisory_locks(conn: AsyncConnection, lock_class: int, keys: Iterable[str], shared: bool) -> None:
    """PostgreSQL transaction-level advisory locks ``(lock_class, hashtext(key))``, keys in sorted
    order (so two callers never take them crosswise), held until the transaction ends. Nothing
    on SQLite, where writers take turns anyway."""
    if conn.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    for key in sorted(set(keys)):
        await conn.exec_driver_sql(f"SELECT {function}({lock_class}, hashtext($1))", (key,))


async def try_advisory_lock(conn: AsyncConnection, lock_class: int, key: str) -> bool:
    """Take the PostgreSQL transaction-level advisory lock ``(lock_class, hashtext(key))`` if it
    is free, without waiting; whether it was. Always True on SQLite, where a writer holds the
    database for its whole transaction."""
    if conn.dialect.name != "postgresql":
        return True
    result = await conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({lock_class}, hashtext($1))", (key,))
    return bool(result.scalar())


def insert_for(conn: AsyncConnection, table: sa.Table) -> Any:
    """The dialect's INSERT for ``table``, which knows ``on_conflict_do_nothing`` on both backends."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class WalCheckpointer:
    """Copies SQLite's write-ahead log back into the database file from a thread of its own.

    Otherwise the writer whose commit takes the log past the threshold does it, inside its turn
    at the single write lock, and every other writer waits for that copy and its fsync. A
    PASSIVE checkpoint never blocks writers or readers; this thread runs one every ``every``
    seconds (a no-op when there is nothing to copy).
    """

    def __init__(self, path: str, every: float = 0.25) -> None:
        self.path, self.every = path, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tribeops-wal-checkpoint", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.every):
                try:
                    if conn is None:  # the file may not be reachable yet: /readyz reports that, not this thread
                        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                        conn.execute("PRAGMA synchronous=NORMAL")
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy with another checkpoint, say: the next round retries
                    log.debug("WAL checkpoint skipped: %s", exc)
        finally:
            if conn is not None:
                conn.close()


class Database:
    """The process's engine; ``transaction()`` is the unit of work every service call runs in."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._write_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._checkpointer = WalCheckpointer(self.sqlite_file) if self.sqlite_file else None
        self._switch_interval: float | None = None  # the process's, while start() has changed it

    def start(self) -> None:
        """Start what a long-running process needs beside its engine: on SQLite, the WAL
        checkpointer and a short interpreter switch interval (see ``SQLITE_SWITCH_INTERVAL``)."""
        if self._checkpointer is not None:
            self._checkpointer.start()
        if self.dialect == "sqlite" and self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SQLITE_SWITCH_INTERVAL)

    @classmethod
    def from_settings(cls, settings: Settings, jobs: int | None = None) -> Database:
        """The database of ``settings``, its pool large enough for the ``jobs`` the process may
        run at once (see :func:`pool_for`; by default, as many as its in-process runner)."""
        url, jobs = settings.database_url, settings.in_process_jobs if jobs is None else jobs
        return cls(create_engine(url, echo=settings.database_echo, **pool_for(url, jobs)))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def checkpointing(self) -> bool:
        """Whether a thread of this process copies SQLite's log back into the database file (see
        :class:`WalCheckpointer`), so that a writer need not."""
        return self._checkpointer is not None and self._checkpointer.running

    @property
    def sqlite_file(self) -> str | None:
        """The SQLite database's file, which every connection of the pool opens (see :func:`sqlite_file`)."""
        return sqlite_file(self.engine.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One connection in one transaction: committed on success, rolled back on error.

        SQLite has one writer at a time; writers of this process take turns on a lock rather
        than in SQLite's busy handler, whose sleeps add up to seconds under load.
        """
        async with self.write_turn(), self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """SQLite: a connection with this process's turn to write, and no transaction begun:
        for a caller that begins and ends its transactions itself, in the driver's thread."""
        async with self.write_turn(), self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """SQLite: this process's turn to write (see :meth:`transaction`), also for a caller that
        begins a write transaction on a connection it already holds. Nothing to wait for elsewhere."""
        if self.dialect != "sqlite":
            yield
            return
        async with self._write_lock():
            yield

    def _write_lock(self) -> asyncio.Lock:
        """This process's turn to write to SQLite, one per event loop."""
        return self._write_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work (on SQLite it does not take the write lock).

        Every statement in it sees the same snapshot (SQLite's read transactions do; PostgreSQL's
        need REPEATABLE READ): a scorecard's metrics and its ``pending`` flag cannot straddle an
        aggregation that commits between them.
        """
        async with self.engine.connect() as conn:
            options: dict[str, Any] = {"readonly": True}
            if self.dialect != "sqlite":
                options["isolation_level"] = "REPEATABLE READ"
            conn = await conn.execution_options(**options)
            async with conn.begin():
                yield conn

    async def bulk_loaded(self, *tables: str) -> None:
        """After a bulk load: on PostgreSQL, the planner's statistics of ``tables`` brought up to
        date at once. Autovacuum does it later, when it runs at all; until then the planner
        guesses the new rows' numbers (an aggregation of 100 events after loading 300k took
        12.6 s on such guesses, 0.07 s once analysed). SQLite's queries are written to be
        planned well without statistics."""
        if self.dialect != "postgresql":
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in tables:
                await conn.exec_driver_sql(f"ANALYZE {table}")

    async def ping(self) -> None:
        async with self.reading() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._switch_interval is not None:  # the process's own setting back
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        await self.engine.dispose()


def sqlite_file(url: str | sa.engine.URL) -> str | None:
    """The SQLite database file of ``url``; None for an in-memory database (``:memory:``, or a
    URI with ``mode=memory``) or another dialect."""
    url = sa.engine.make_url(url)
    path = url.database if url.get_backend_name() == "sqlite" else None
    memory = not path or path == ":memory:" or path.startswith("file::memory:") or url.query.get("mode") == "memory"
    return None if memory else path


def database_busy(exc: BaseException) -> bool:
    """SQLite's writer lock held past the busy timeout (by another process, a shell, a backup),
    as SQLAlchemy raises it or as the driver does (batches of events are written through it)."""
    driver = getattr(exc, "orig", None) if isinstance(exc, sa.exc.OperationalError) else exc
    return isinstance(driver, sqlite3.OperationalError) and "database is locked" in str(driver)


def backup_sqlite(source: str, destination: str) -> int:
    """Copy the SQLite database file ``source`` to ``destination`` (a new file), consistent as
    of one moment even while the service writes (``VACUUM INTO`` reads in one transaction, and
    leaves out the log and free pages). Returns the copy's size in bytes."""
    if os.path.exists(destination):
        raise FileExistsError(f"{destination} already exists; give a new file")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"no database at {source}")
    uri = pathlib.Path(source).resolve().as_uri() + "?mode=ro"  # read only: never creates a file
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        conn.execute("VACUUM INTO ?", (destination,))
    return os.path.getsize(destination)
