"""Scorecard reads: what a brand team waits for when it opens a scorecard, beside DuckDB.

    python bench/scorecard.py --db both [--history 1000000] [--big]   (--big: 10M history)

For each database: loads the history of ``bench/aggregate.py`` (a brand's conversations:
five months and a half of them for a million events, 50,000 members) and aggregates it
(setup, not measured; on PostgreSQL, analysed afterwards, as autovacuum would), then times ``GET /v1/scorecards``'s work (every registered metric), best of two, for

- the whole history, one total; the last whole month, one total and a daily series;
- the whole history, weekly and monthly series;

and then the members a monthly series counts (``active_members`` and ``returning_members``
alone, over the whole history) beside DuckDB counting the same from the raw events, as the
reference: both times, their ratio, and whether every month's figures agree.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aggregate import analyze, brand_with_history, duckdb_events, rows
from common import history_benchmark

from tribeops.core.runtime import Runtime
from tribeops.core.schemas.scorecards import Scope, Scorecard
from tribeops.core.scorecards import build
from tribeops.core.settings import Settings

MEMBERS = ("active_members", "returning_members")
ACTIVE_KINDS = ("reply", "comment", "share", "mention", "post", "question", "answer", "vote")


async def best_of_two(runtime: Runtime, caller: Any, scope: Scope, since: date | None, until: date | None,
                      granularity: str, registry: Any = None) -> tuple[float, Scorecard]:
    times = []
    for _ in range(2):
        started = time.perf_counter()
        async with runtime.db.reading() as conn:
            card = await build(conn, registry or runtime.registry, caller, scope, since, until,
                               granularity)  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
        assert not card.errors, card.errors
    return min(times), card


def last_whole_month(card: Scorecard) -> tuple[date, date]:
    end = card.period.end.replace(day=1)  # the month the history ends in is partial
    return (end - timedelta(days=1)).replace(day=1), end


def duckdb_members(data: list[tuple[Any, ...]], workdir: Path) -> tuple[float, list[tuple[str, int, int]]]:
    """Each month's active and returning members, from the raw events."""
    con = duckdb_events(data, workdir)
    kinds = ", ".join(f"'{k}'" for k in ACTIVE_KINDS)
    started = time.perf_counter()
    found = con.execute(f"""
        WITH act AS (SELECT DISTINCT member_id, CAST(occurred_at AT TIME ZONE 'UTC' AS DATE) AS d FROM events
                     WHERE origin = 'member' AND kind IN ({kinds})),
        first AS (SELECT member_id, MIN(d) AS f FROM act GROUP BY member_id),
        months AS (SELECT DISTINCT date_trunc('month', d) AS m, member_id FROM act)
        SELECT CAST(m AS DATE), COUNT(*), COUNT(*) FILTER (WHERE f < m)
        FROM months JOIN first USING (member_id) GROUP BY m ORDER BY m
    """).fetchall()
    return time.perf_counter() - started, [(m.isoformat(), int(a), int(r)) for m, a, r in found]


async def bench(url: str, backend: str, history: int, workdir: Path) -> None:
    runtime = Runtime.create(Settings(database_url=url))
    try:
        caller, brand, _ = await brand_with_history(runtime, "big", history, 2)
        await analyze(runtime.db)  # as autovacuum would, after the rebuild's inserts (PostgreSQL)
        scope = Scope(brand_id=brand)
        whole, card = await best_of_two(runtime, caller, scope, None, None, "total")
        month = last_whole_month(card)
        timings = {"whole history, total": whole,
                   f"{month[0]:%B %Y}, total": (await best_of_two(runtime, caller, scope, *month, "total"))[0],
                   f"{month[0]:%B %Y}, daily series": (await best_of_two(runtime, caller, scope, *month, "day"))[0]}
        for granularity in ("week", "month"):
            elapsed, series = await best_of_two(runtime, caller, scope, None, None, granularity)
            timings[f"whole history, {granularity}ly series ({len(series.series or [])} points)"] = elapsed
        only = dataclasses.replace(runtime.registry, metrics={m: runtime.registry.metrics[m] for m in MEMBERS})
        members_time, members = await best_of_two(runtime, caller, scope, None, None, "month", only)
    finally:
        await runtime.close()
    ours = [(p.period.start.isoformat(), *(int(v.value or 0) for v in sorted(p.metrics, key=lambda v: v.name)))
            for p in members.series or []]
    duck_time, duck = duckdb_members(rows(caller.workspace_id, brand, history, 0, 2), workdir)
    print(f"[{backend}] history {history:,} events, {card.period.start} to {card.period.end}")
    for label, elapsed in timings.items():
        print(f"  {label + ':':48} {elapsed:8.2f} s")
    print(f"  members of a monthly series ({', '.join(MEMBERS)}): {members_time:.2f} s; duckdb from raw events: "
          f"{duck_time:.2f} s; ratio {members_time / duck_time:.1f}; same figures: {ours == duck}")


def main() -> None:
    history_benchmark(__doc__, "cards", bench)


if __name__ == "__main__":
    main()
