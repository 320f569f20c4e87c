"""Ingest benchmark: HTTP batches against ``tribeops serve`` next to the raw driver ceiling.

    python bench/ingest.py --events 100000 --db both [--repeat 3] [--import-events 1000000]

For each database it starts the server as a user would (one process), posts batches of 500
from a concurrent client, and prints events/s, p50 / p99 batch latency and the server's
peak RSS; then it inserts the same rows straight through the driver with executemany (no
HTTP, no validation: the ceiling) into the same schema, and prints the ratio. ``--repeat``
runs both that many times, each on fresh databases, and prints the medians (on a shared
machine either figure alone moves by a quarter from one run to the next). With
``--import-events`` it also times ``tribeops events import`` on a file of that many events
and reports the importer's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from common import TRIBEOPS, cli, events, fresh_database, peak_rss_mb, percentile, server

from tribeops.core.schemas.events import ACTIVE_KINDS


async def post_all(base: str, key: str, items: list[dict[str, Any]], batch: int, concurrency: int
                   ) -> tuple[float, list[float], int]:
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    latencies: list[float] = []
    accepted = 0
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            body = json.dumps({"events": queue.get_nowait()}).encode()
            started = time.perf_counter()
            response = await client.post(base + "/v1/events", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            accepted += response.json()["accepted"]

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, accepted


def raw_rows(items: list[dict[str, Any]], ws: str) -> list[tuple[Any, ...]]:
    """The rows ingest would write, precomputed: the driver only has to insert them."""
    rows = []
    for e in items:
        rows.append((ws, e["id"], e["brand_id"], None, None, e["network"], e["kind"], "member", False,
                     e["kind"] in ACTIVE_KINDS, "mbr_" + e["actor"]["id"], e["actor"]["id"], e["actor"]["handle"], None, e["post_id"],
                     e.get("in_reply_to"), e["occurred_at"].replace("+00:00", ""), float(e.get("value", 1)),
                     e.get("text"), "{}", "{}", None, e["occurred_at"].replace("+00:00", "")))
    return rows


COLUMNS = ("workspace_id, id, brand_id, campaign_id, tribe_id, network, kind, origin, paid, active, member_id, "
           "actor_id, "
           "actor_handle, conversation_id, post_id, in_reply_to, occurred_at, value, text, attrs, enrichment, "
           "enrichment_errors, ingested_at")


async def raw_ceiling(url: str, rows: list[tuple[Any, ...]], batch: int) -> float:
    """Rows/s for the driver inserting the rows with executemany, one transaction per batch."""
    cli(["db", "upgrade"], url)
    cli(["keys", "create", "--workspace", "raw", "--scope", "admin"], url)
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        ws = conn.execute("SELECT id FROM workspaces").fetchone()[0]
        sql = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 23)}) ON CONFLICT DO NOTHING"
        rows = [(ws, *r[1:]) for r in rows]
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            with conn:
                conn.executemany(sql, rows[i:i + batch])
        elapsed = time.perf_counter() - started
        conn.close()
        return len(rows) / elapsed
    import asyncpg
    from datetime import datetime

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    ws = await conn.fetchval("SELECT id FROM workspaces")
    sql = (f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 24))}) "
           "ON CONFLICT DO NOTHING")
    prepared = [(ws, *r[1:15], datetime.fromisoformat(r[15] + "+00:00"), *r[16:21],
                 datetime.fromisoformat(r[21] + "+00:00")) for r in rows]
    started = time.perf_counter()
    for i in range(0, len(prepared), batch):
        async with conn.transaction():
            await conn.executemany(sql, prepared[i:i + batch])
    elapsed = time.perf_counter() - started
    await conn.close()
    return len(prepared) / elapsed


def run_import(url: str, brand_id: str, n: int, workdir: Path) -> tuple[float, float]:
    """(events/s, peak RSS MB) of ``tribeops events import`` on an n-event file."""
    path = workdir / "import.ndjson"
    with path.open("w") as out:
        for event in events(brand_id, n, seed=11):
            out.write(json.dumps(event) + "\n")
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": url}
    proc = subprocess.Popen(TRIBEOPS + ["events", "import", str(path), "--workspace", "bench"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, peak = time.perf_counter(), 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, peak_rss_mb(proc.pid))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.2)
    return n / (time.perf_counter() - started), peak


def measure(backend: str, n: int, batch: int, concurrency: int, workdir: Path, rep: int
            ) -> tuple[float, list[float], float, float, str, str]:
    """One API run on a fresh database, then the ceiling on another: (events/s, batch latencies,
    server peak RSS, ceiling rows/s, the API run's database URL, its brand)."""
    url = fresh_database(backend, workdir, f"tribeops_bench_{backend}_{rep}")
    cli(["db", "upgrade"], url)
    key = cli(["keys", "create", "--workspace", "bench", "--scope", "admin"], url)
    with server(url) as (base, proc):
        brand = httpx.post(base + "/v1/brands", json={"name": "Acme", "handles": {"x": "@acme"}},
                           headers={"Authorization": f"Bearer {key}"}).json()["id"]
        items = list(events(brand, n))
        elapsed, latencies, accepted = asyncio.run(post_all(base, key, items, batch, concurrency))
        rss = peak_rss_mb(proc.pid)
    assert accepted == n, f"{accepted} of {n} accepted"
    raw_url = fresh_database(backend, workdir, f"tribeops_bench_raw_{backend}_{rep}")
    ceiling = asyncio.run(raw_ceiling(raw_url, raw_rows(items, "ws"), batch))
    return n / elapsed, latencies, rss, ceiling, url, brand


def bench(backend: str, n: int, batch: int, concurrency: int, import_n: int, repeat: int, workdir: Path) -> None:
    print(f"[{backend}] {n} events, batches of {batch}, {concurrency} concurrent clients")
    runs = []
    for rep in range(repeat):
        rate, latencies, rss, ceiling, url, brand = measure(backend, n, batch, concurrency, workdir, rep)
        runs.append((rate, ceiling))
        print(f"  api:      {rate:10.0f} events/s   p50 {percentile(latencies, .5) * 1000:7.1f} ms"
              f"   p99 {percentile(latencies, .99) * 1000:7.1f} ms   server peak RSS {rss:6.1f} MB")
        print(f"  ceiling:  {ceiling:10.0f} rows/s (driver executemany, same rows, no HTTP)")
        print(f"  ratio:    {rate / ceiling:10.3f}  (goal >= 0.5)")
    if repeat > 1:  # each run and its ceiling alternate: the medians of both, and of the ratios
        rates, ceilings = zip(*runs)
        print(f"  median of {repeat}: api {statistics.median(rates):.0f} events/s, ceiling "
              f"{statistics.median(ceilings):.0f} rows/s, ratio {statistics.median(r / c for r, c in runs):.3f}"
              "  (goal >= 0.5)")
    if import_n:
        rate, peak = run_import(url, brand, import_n, workdir)
        print(f"  import:   {rate:10.0f} events/s over {import_n} events, peak RSS {peak:6.1f} MB (goal < 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--import-events", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="API runs, each followed by its ceiling, on fresh databases; prints the medians")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in (("sqlite", "postgres") if args.db == "both" else (args.db,)):
            bench(backend, args.events, args.batch, args.concurrency, args.import_events, args.repeat, Path(tmp))


if __name__ == "__main__":
    main()
