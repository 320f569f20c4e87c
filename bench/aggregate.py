"""Aggregation benchmark: full rebuild and incremental updates next to the plain-scan ceiling.

    python bench/aggregate.py --db both [--history 1000000] [--big]   (--big: 10M history)

For each database: loads a brand's history of realistic conversations straight into the
events table (setup, not measured), then times

- the full rebuild of facts, rollups and member-days, beside one plain GROUP BY scan of the
  same events (the ceiling), three times each in turns, and the ratio of their medians (goal:
  within 3x); then a rebuild after more events, while another brand's events keep coming, a
  batch every quarter second, and the longest wait of one (how long a rebuild holds up ingest);
- an incremental update of 10,000 new events (replies into recent threads included) on top of
  100k and of the full history, three times each (three new slices of 10,000), and the ratio
  between the two medians (goal: at most 1.5);
- a merge of two members, their past events restated in its own transaction;
- DuckDB computing the same headline metrics from the raw events, as a reference, and whether
  its figures agree with the scorecard's.
"""

from __future__ import annotations

import asyncio
import csv
import random
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from common import history_benchmark

from tribeops.core import aggregate, bulk
from tribeops.core.db import Database
from tribeops.core.ingest import EVENT_COLUMNS, ingest_batch
from tribeops.core.schemas.events import ACTIVE_KINDS
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.brands import BrandCreate
from tribeops.core.schemas.scorecards import Scope
from tribeops.core.scorecards import build
from tribeops.core.services.brands import BrandService
from tribeops.core.services.members import MemberService
from tribeops.core.services.workspaces import ensure_workspace
from tribeops.core.settings import Settings
from tribeops.testing.events import EventBuilder

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
POSITIVE = {"sentiment_label": "positive", "thanks": True}
NEUTRAL = {"sentiment_label": "neutral", "thanks": False}


def rows(ws: str, brand: str, n: int, first: int, seed: int, minutes_from: int = 0) -> list[tuple[Any, ...]]:
    """``n`` events in threads: a brand post, member comments and questions, member and brand
    answers, likes; every thread spread over a few hours; ids from ``first``."""
    rng = random.Random(seed)
    out: list[tuple[Any, ...]] = []
    i, minute = first, minutes_from
    recent: list[str] = []
    while len(out) < n:
        minute += rng.randrange(1, 4)
        thread = f"t{i}"
        kinds = [("post", "brand", None)]
        for _ in range(rng.randrange(2, 12)):
            kind = rng.choice(("comment", "comment", "like", "like", "like", "question", "share", "reply"))
            kinds.append((kind, "member", None if kind == "question" and rng.random() < 0.5 else thread))
        if recent and rng.random() < 0.3:  # replies into older threads: parents already aggregated
            kinds.append(("comment", "member", rng.choice(recent)))
        for kind, origin, parent in kinds:
            if len(out) >= n:
                break
            eid = f"e{i}"
            post_id = thread if kind == "post" else eid
            member = "mbr_brand" if origin == "brand" else f"mbr_{rng.randrange(50_000)}"
            at = START + timedelta(minutes=minute + rng.randrange(240))
            enrichment = POSITIVE if rng.random() < 0.2 else NEUTRAL
            row = {"workspace_id": ws, "id": eid, "brand_id": brand, "campaign_id": None, "tribe_id": None,
                   "network": rng.choice(("x", "instagram")), "kind": kind, "origin": origin, "paid": False,
                   "active": kind in ACTIVE_KINDS,
                   "member_id": member, "actor_id": member, "actor_handle": None, "conversation_id": thread,
                   "post_id": post_id, "in_reply_to": parent, "occurred_at": at, "value": 1.0,
                   "text": "text", "attrs": {}, "enrichment": enrichment, "enrichment_errors": None,
                   "kit_similarity": None, "ingested_at": at}
            out.append(tuple(row[c] for c in EVENT_COLUMNS))
            if kind == "question" and rng.random() < 0.7:
                i += 1
                by = "brand" if rng.random() < 0.4 else "member"
                answer = dict(row, id=f"e{i}", post_id=f"e{i}", kind="reply" if by == "brand" else "answer",
                              origin=by, in_reply_to=eid, occurred_at=at + timedelta(minutes=rng.randrange(5, 90)),
                              member_id="mbr_brand" if by == "brand" else f"mbr_{rng.randrange(50_000)}")
                out.append(tuple(answer[c] for c in EVENT_COLUMNS))
            i += 1
        recent = (recent + [thread])[-200:]
    return out[:n]


async def load(db: Database, data: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(data), 20_000):
        async with db.transaction() as conn:
            await bulk.insert(conn, "events", EVENT_COLUMNS, data[start:start + 20_000])


async def analyze(db: Database) -> None:
    """The table as a live database keeps it: on PostgreSQL vacuumed and analysed, as autovacuum
    does after a million inserts (so the first reader does not pay for setting every row's
    visibility hints); on SQLite as the service leaves it, with no statistics (nothing runs
    ANALYZE there: its queries are written to be planned well without), and its log copied back
    into the database file (see :func:`log_copied_back`)."""
    if db.dialect != "postgresql":
        await log_copied_back(db)
        return
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE")


async def log_copied_back(db: Database) -> None:
    """SQLite: wait until the log is copied back into the database file, as the service's
    checkpointer thread does in the background (started with the runtime here, as the service
    and the worker start it), so that nothing timed next runs beside that copy."""
    if db.dialect == "sqlite":
        async with db.engine.connect() as conn:  # straight on the driver: outside a transaction
            # Busy at once while the checkpointer thread copies: then after it.
            while (await bulk.execute(conn, "PRAGMA wal_checkpoint(TRUNCATE)"))[0][0]:
                await asyncio.sleep(0.05)


async def timed(db: Database, kind: str, ws: str, brand: str) -> float:
    started = time.perf_counter()
    await aggregate.run(db, kind, ws, brand)
    return time.perf_counter() - started


async def timed_beside_ingest(runtime: Runtime, ws: str, brand: str, other: tuple[Any, str]) -> tuple[float, float]:
    """A rebuild of ``brand`` timed while batches of one event go to the brand ``other``
    (caller, brand id), a quarter second apart: the rebuild's time and the longest batch."""
    rebuild = asyncio.create_task(timed(runtime.db, "scorecards.rebuild", ws, brand))
    caller, other_brand = other
    events, waits = EventBuilder(other_brand), [0.0]
    while not rebuild.done():
        started = time.perf_counter()
        await ingest_batch(runtime.db, runtime.registry, caller, [events.like(actor=f"probe{len(waits)}")])
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.25)
    return await rebuild, max(waits)


async def plain_scan(db: Database, brand: str) -> float:
    day = "substr(occurred_at, 1, 10)" if db.dialect == "sqlite" else "date(occurred_at AT TIME ZONE 'UTC')"
    started = time.perf_counter()
    async with db.reading() as conn:
        await conn.exec_driver_sql(
            f"SELECT network, {day}, kind, origin, COUNT(*), SUM(value) FROM events "
            f"WHERE brand_id = {'?' if db.dialect == 'sqlite' else '$1'} GROUP BY 1, 2, 3, 4", (brand,))
    return time.perf_counter() - started


async def rebuilds_beside_scans(runtime: Runtime, ws: str, brand: str, first: float) -> tuple[list[float], list[float]]:
    """Three first rebuilds of the brand (``first`` the one already timed), each followed by a
    plain scan: the two measured in turns, so that a slower spell of the machine weighs on
    both. Before each rebuild after the first, the brand's counts are dropped, and the tables
    left as :func:`analyze` leaves them: its next rebuild is a first one again."""
    rebuilds, scans = [first], []
    for k in range(REPEATS):
        if k:
            async with runtime.db.transaction() as conn:
                for table in ("event_facts", "rollups", "member_days"):
                    await conn.execute(sa.text(f"DELETE FROM {table} WHERE brand_id = :b"), {"b": brand})
            await analyze(runtime.db)
            rebuilds.append(await timed(runtime.db, "scorecards.rebuild", ws, brand))
        await log_copied_back(runtime.db)  # the rebuild's log, before the scan
        scans.append(await plain_scan(runtime.db, brand))
    return rebuilds, scans


async def brand_with_history(runtime: Runtime, name: str, history: int, seed: int) -> tuple[Any, str, float]:
    async with runtime.db.transaction() as conn:
        caller = await ensure_workspace(conn, name)
        brand = (await BrandService(conn, caller).create(BrandCreate(name=name))).id
    await load(runtime.db, rows(caller.workspace_id, brand, history, 0, seed))
    await analyze(runtime.db)
    rebuild = await timed(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
    return caller, brand, rebuild


async def timed_merge(runtime: Runtime, caller: Any, brand: str) -> tuple[float, int]:
    """Two members of the brand merged through the service, as ``POST /v1/members/{id}/merge``
    does, their past events restated in the merge's transaction: its time and their events."""
    keep, other = "mbr_1", "mbr_2"
    async with runtime.db.transaction() as conn:
        now = datetime.now(timezone.utc)
        await bulk.insert(conn, "members", ("id", "workspace_id", "merged_into", "created_at", "updated_at"),
                          [(m, caller.workspace_id, None, now, now) for m in (keep, other)])
    started = time.perf_counter()
    async with runtime.db.transaction() as conn:
        merged = await MemberService(conn, caller).merge(keep, other)
    elapsed = time.perf_counter() - started
    async with runtime.db.reading() as conn:
        flagged = (await conn.execute(sa.text("SELECT rebuild FROM agg_state WHERE brand_id = :b"),
                                      {"b": brand})).scalar()
    assert not flagged, "the merge was left to a rebuild"
    return elapsed, merged.activity.events  # the workspace has this one brand


REPEATS = 3  # runs of each measure: one slow spell of a busy machine is not the trend


def increment(ws: str, brand: str, history: int, seed: int, k: int) -> list[tuple[Any, ...]]:
    """The ``k``-th slice of 10,000 new events after ``history`` (ids apart from every other slice)."""
    return rows(ws, brand, 10_000, history * 2 + k * 100_000, seed + 1 + k, minutes_from=history // 2)


async def incremental(runtime: Runtime, caller: Any, brand: str, history: int, seed: int) -> list[float]:
    times = []
    for k in range(REPEATS):
        await load(runtime.db, increment(caller.workspace_id, brand, history, seed, k))
        times.append(await timed(runtime.db, "scorecards.aggregate", caller.workspace_id, brand))
    return times


def duckdb_events(data: list[tuple[Any, ...]], workdir: Path) -> Any:
    """A DuckDB connection with ``data`` in its ``events`` table (the columns the metrics read)."""
    import duckdb

    path = workdir / "events.csv"
    idx = {c: i for i, c in enumerate(EVENT_COLUMNS)}
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "kind", "origin", "member_id", "post_id", "in_reply_to", "occurred_at"])
        for r in data:
            writer.writerow([r[idx[c]] if r[idx[c]] is not None else "" for c in
                             ("id", "kind", "origin", "member_id", "post_id", "in_reply_to")] +
                            [r[idx["occurred_at"]].isoformat()])
    con = duckdb.connect()
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{path}', header=true, nullstr='', "
                f"types={{'occurred_at': 'TIMESTAMPTZ'}})")
    return con


def duckdb_reference(data: list[tuple[Any, ...]], workdir: Path) -> tuple[float, dict[str, float | None]]:
    con = duckdb_events(data, workdir)
    started = time.perf_counter()
    row = con.execute("""
        WITH e AS (SELECT * FROM events),
        brand_posts AS (SELECT COUNT(*) n FROM e WHERE origin = 'brand' AND kind = 'post'),
        msgs AS (SELECT m.post_id, EXISTS (SELECT 1 FROM e c WHERE c.in_reply_to = m.post_id AND c.origin = 'brand') a
                 FROM e m WHERE m.origin = 'member' AND m.kind IN ('reply', 'comment', 'mention', 'question')),
        starts AS (SELECT origin FROM e WHERE kind IN ('post', 'question', 'mention') AND in_reply_to IS NULL)
        SELECT (SELECT COUNT(*) FROM e WHERE origin = 'member' AND kind IN ('reply', 'comment'))
                   / (SELECT n FROM brand_posts) AS conversation_rate,
               (SELECT AVG(CASE WHEN a THEN 1.0 ELSE 0 END) FROM msgs) AS reply_back_rate,
               (SELECT AVG(CASE WHEN origin = 'member' THEN 1.0 ELSE 0 END) FROM starts) AS pull_index,
               (SELECT COUNT(DISTINCT member_id) FROM e WHERE origin = 'member' AND kind IN
                   ('reply', 'comment', 'share', 'mention', 'post', 'question', 'answer', 'vote')) AS active_members
    """).fetchone()
    elapsed = time.perf_counter() - started
    return elapsed, dict(zip(("conversation_rate", "reply_back_rate", "pull_index", "active_members"), row))


async def bench(url: str, backend: str, history: int, workdir: Path) -> None:
    runtime = Runtime.create(Settings(database_url=url))
    runtime.db.start()  # the WAL checkpointer on SQLite, as in the service and the worker
    try:
        small_caller, small, _ = await brand_with_history(runtime, "small", 100_000, 1)
        inc_small = await incremental(runtime, small_caller, small, 100_000, 1)
        caller, big, first = await brand_with_history(runtime, "big", history, 2)
        rebuilds, scans = await rebuilds_beside_scans(runtime, caller.workspace_id, big, first)
        inc_big = await incremental(runtime, caller, big, history, 2)
        rebuild_again, held_up = await timed_beside_ingest(runtime, caller.workspace_id, big, (small_caller, small))
        async with runtime.db.reading() as conn:
            card = await build(conn, runtime.registry, caller, Scope(brand_id=big), None, None, "total")
        ours = {m.name: m.value for m in card.metrics}
        merge, merged_events = await timed_merge(runtime, caller, big)  # after the figures DuckDB checks
        data = rows(caller.workspace_id, big, history, 0, 2)
        for k in range(REPEATS):
            data += increment(caller.workspace_id, big, history, 2, k)
    finally:
        await runtime.close()
    duck_time, duck = duckdb_reference(data, workdir)
    agree = all(abs((ours[k] or 0) - (v or 0)) < 1e-6 for k, v in duck.items())
    print(f"[{backend}] history {history:,} events")
    def runs(times: list[float], digits: int = 3) -> str:
        return ", ".join(f"{t:.{digits}f}" for t in times)

    rebuild, scan = statistics.median(rebuilds), statistics.median(scans)
    print(f"  full rebuild:        {rebuild:8.2f} s  ({runs(rebuilds, 2)}; again after +10k: {rebuild_again:.2f} s, "
          f"during which a batch of another brand waited at most {held_up:.2f} s)")
    print(f"  plain GROUP BY scan: {scan:8.2f} s  ({runs(scans, 2)})   ratio of medians rebuild / scan: "
          f"{rebuild / scan:6.1f}  (goal <= 3)")
    small_m, big_m = statistics.median(inc_small), statistics.median(inc_big)

    print(f"  incremental +10k:    {small_m:8.3f} s on 100k history ({runs(inc_small)}), {big_m:.3f} s on "
          f"{history:,} ({runs(inc_big)})   ratio of medians: {big_m / small_m:.2f}  (goal <= 1.5)")
    print(f"  merge of two members: {merge:7.3f} s, their {merged_events} past events restated in its transaction "
          f"(no rebuild)")
    print(f"  duckdb reference:    {duck_time:8.2f} s for four headline metrics from raw events;"
          f" same figures: {agree}  {({k: round(v or 0, 4) for k, v in duck.items()})}")


def main() -> None:
    history_benchmark(__doc__, "agg", bench)


if __name__ == "__main__":
    main()
