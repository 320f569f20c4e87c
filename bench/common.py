"""Shared pieces of the benchmarks: realistic data, databases, a server run as a user runs it."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TRIBEOPS = [sys.executable, "-m", "tribeops.cli.main"]
PG_ADMIN = os.environ.get("TRIBEOPS_BENCH_PG_ADMIN", "postgresql://root@127.0.0.1:5432/postgres")

KINDS = [("like", 40), ("impression", 20), ("view", 8), ("comment", 10), ("reply", 7), ("share", 5),
         ("mention", 3), ("post", 2), ("question", 2), ("answer", 1), ("follow", 1), ("vote", 1)]
TEXTS = ["Love this roast, thank you!", "Grazie mille, buonissimo ☕", "How do you brew it at home?",
         "Come si prepara il cold brew?", "Not my cup of tea, too bitter", "Non mi piace, troppo amaro",
         "#MyAcmeMorning with a cortado", "Show us your morning cup with #MyAcmeMorning",
         "@acme when is the new blend out?", "Best espresso in town, hands down"]


def events(brand_id: str, n: int, seed: int = 7, actors: int = 20_000) -> Iterator[dict[str, Any]]:
    """``n`` realistic KPI events of one brand: a few networks, threads, profiles, en/it texts."""
    rng = random.Random(seed)
    kinds, weights = zip(*KINDS)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        who = rng.randrange(actors)
        event: dict[str, Any] = {
            "id": f"bench-{seed}-{i}", "brand_id": brand_id, "network": rng.choice(("x", "instagram", "facebook")),
            "kind": kind, "occurred_at": (start + timedelta(seconds=i * 7)).isoformat(),
            "actor": {"id": str(100_000 + who), "handle": f"user{who}", "followers": rng.randrange(5000),
                      "following": rng.randrange(2000), "posts": rng.randrange(900)},
            "post_id": f"p{i}",
        }
        if kind in ("comment", "reply", "answer", "share", "like"):
            event["in_reply_to"] = f"p{max(0, i - rng.randrange(1, 200))}"
        if kind in ("comment", "reply", "mention", "post", "question", "answer"):
            event["text"] = rng.choice(TEXTS)
        if kind in ("impression", "view"):
            event["value"] = rng.randrange(1, 500)
        yield event


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fresh_database(backend: str, workdir: Path, name: str) -> str:
    """A new, empty database URL: a SQLite file, or a PostgreSQL database made for the run."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
    import asyncpg

    async def make() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(make())
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def history_benchmark(description: str, name: str,
                      bench: Callable[[str, str, int, Path], Coroutine[Any, Any, None]], big: bool = True) -> None:
    """The command line of a benchmark over a brand's history: ``--db``, ``--history`` (and
    ``--big``, 10M events); ``bench(url, backend, history, workdir)`` runs on a new, migrated
    database of each backend asked for."""
    from tribeops.core.migrate import upgrade

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--history", type=int, default=1_000_000)
    if big:
        parser.add_argument("--big", action="store_true", help="10M events of history")
    args = parser.parse_args()
    history = 10_000_000 if big and args.big else args.history
    with tempfile.TemporaryDirectory() as tmp:
        for backend in (("sqlite", "postgres") if args.db == "both" else (args.db,)):
            url = fresh_database(backend, Path(tmp), f"tribeops_{name}_{backend}")
            upgrade(url)
            asyncio.run(bench(url, backend, history, Path(tmp)))


def cli(args: list[str], url: str) -> str:
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": url}
    return subprocess.run(TRIBEOPS + args, env=env, check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def server(url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``tribeops serve`` in its own process, as a user starts it; yields (base URL, process)."""
    port = free_port()
    env = {**os.environ, "TRIBEOPS_DATABASE_URL": url}
    proc = subprocess.Popen(TRIBEOPS + ["serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
