"""Workers on PostgreSQL and Redis: no double counting, crash safety, Redis outages."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
from litestar.testing import TestClient

from tribeops.core.db import create_engine
from tribeops.testing.events import EventBuilder

from ..conftest import bearer
from ..plugins.test_rss import POST_FEED, Blog, blog
from ..scoring import values
from .conftest import wait_for

__all__ = ["blog"]  # the fixture

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _brand(client: TestClient[Any], headers: dict[str, str]) -> str:
    return str(client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "acme"}}, headers=headers).json()["id"])


def _conversation(brand: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    ev = EventBuilder(brand)
    out = []
    for i in range(start, start + n):
        post = ev.post(actor="acme", id=f"p{i}", post_id=f"p{i}", text="New roast")
        out += [post, ev.comment(actor=f"fan{i % 17}", id=f"c{i}", post_id=f"c{i}", in_reply_to=f"p{i}",
                                 text="Thanks, love it!"),
                ev.reply(actor="acme", id=f"r{i}", post_id=f"r{i}", in_reply_to=f"c{i}"),
                ev.like(actor=f"fan{i % 5}", id=f"l{i}", in_reply_to=f"p{i}")]
    return out


def _job(client: TestClient[Any], headers: dict[str, str], brand: str, kind: str = "scorecards.aggregate") -> str:
    response = client.post("/v1/jobs", json={"kind": kind, "params": {"brand_id": brand}}, headers=headers)
    assert response.status_code == 202
    return str(response.json()["id"])


def _status(client: TestClient[Any], headers: dict[str, str], job: str) -> str:
    return str(client.get(f"/v1/jobs/{job}", headers=headers).json()["status"])


def _card(client: TestClient[Any], headers: dict[str, str], brand: str) -> dict[str, Any]:
    return values(client.get("/v1/scorecards", params={"brand_id": brand}, headers=headers).json())


def test_two_workers_at_once_never_double_count(pg_url: str, redis_url: str, workers: Any, api: Any,
                                                pg_key: Any) -> None:
    workers(pg_url, redis_url), workers(pg_url, redis_url)
    client, headers = api(redis_url), bearer(pg_key())
    brand = _brand(client, headers)
    jobs = []
    for batch in range(8):  # interleave batches with pairs of aggregation requests
        client.post("/v1/events", json={"events": _conversation(brand, 25, batch * 25)}, headers=headers)
        jobs += [_job(client, headers, brand), _job(client, headers, brand)]
    wait_for(lambda: all(_status(client, headers, j) == "succeeded" for j in jobs), 120, "aggregations")
    wait_for(lambda: not client.get("/v1/scorecards", params={"brand_id": brand}, headers=headers).json()["pending"],
             60, "the last automatic aggregation")
    incremental = _card(client, headers, brand)
    assert incremental["likes"] == 200 and incremental["conversation_rate"] == 1.0
    rebuilt = _job(client, headers, brand, "scorecards.rebuild")
    wait_for(lambda: _status(client, headers, rebuilt) == "succeeded", 60, "the rebuild")
    assert _card(client, headers, brand) == incremental


def test_a_worker_killed_mid_job_is_replaced_and_the_result_is_the_same(pg_url: str, redis_url: str, workers: Any,
                                                                       api: Any, pg_key: Any) -> None:
    client, headers = api(redis_url), bearer(pg_key())
    brand = _brand(client, headers)
    client.post("/v1/events", json={"events": _conversation(brand, 40)}, headers=headers)

    async def hold_brand_lock(seconds_until_kill: Any) -> None:
        engine = create_engine(pg_url)
        async with engine.begin() as conn:  # the job will block on this row, mid-run
            await conn.exec_driver_sql("INSERT INTO agg_state (workspace_id, brand_id, watermark, pending) "
                                       "SELECT workspace_id, id, 0, 1 FROM brands WHERE id = $1 "
                                       "ON CONFLICT (brand_id) DO NOTHING", (brand,))
        async with engine.begin() as conn:
            await conn.exec_driver_sql("SELECT 1 FROM agg_state WHERE brand_id = $1 FOR UPDATE", (brand,))
            await seconds_until_kill()
        await engine.dispose()

    first = workers(pg_url, redis_url)
    job = _job(client, headers, brand, "scorecards.rebuild")

    async def kill_when_running() -> None:
        while _status(client, headers, job) != "running":
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    asyncio.run(hold_brand_lock(kill_when_running))
    assert _status(client, headers, job) == "running"  # its worker is gone: only the sweep can save it
    workers(pg_url, redis_url)
    wait_for(lambda: _status(client, headers, job) == "succeeded", 90, "the job to be rerun")
    detail = client.get(f"/v1/jobs/{job}", headers=headers).json()
    assert detail["attempts"] == 2
    card = _card(client, headers, brand)
    assert (card["likes"], card["conversation_rate"], card["reply_back_rate"], card["thanks"]) == (40, 1.0, 1.0, 40)


def test_redis_down_ingest_goes_on_and_jobs_run_once_it_is_back(pg_url: str, redis_server: Any, workers: Any,
                                                               api: Any, pg_key: Any) -> None:
    redis = redis_server()["start"]()
    workers(pg_url, redis["url"])
    client, headers = api(redis["url"]), bearer(pg_key())
    brand = _brand(client, headers)
    redis["stop"]()
    accepted = client.post("/v1/events", json={"events": _conversation(brand, 10)}, headers=headers)
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 40
    job = _job(client, headers, brand)
    time.sleep(2)
    assert _status(client, headers, job) == "queued"
    redis["start"]()
    wait_for(lambda: _status(client, headers, job) == "succeeded", 90, "the job after Redis came back")
    wait_for(lambda: _card(client, headers, brand)["likes"] == 10, 30, "the scorecard")


def test_a_job_left_waiting_for_its_brand_can_be_woken_again(redis_url: str) -> None:
    from arq import create_pool

    from tribeops.workers.queue import ArqQueue, redis_settings

    async def scenario() -> list[int]:
        queue, pool = ArqQueue(redis_url), await create_pool(redis_settings(redis_url))
        try:
            for after in (None, None, "job_before"):  # the sweep's repeat is one wake-up, the later one another
                await queue.enqueue("job_waiting", 0, after=after)
            return [await pool.exists(f"arq:job:{key}") for key in ("job_waiting:0", "job_waiting:0:after:job_before")]
        finally:
            await queue.close()
            await pool.aclose()

    assert asyncio.run(scenario()) == [1, 1]


def test_a_workers_tick_syncs_a_new_polling_connection_by_itself(pg_url: str, redis_url: str, workers: Any, api: Any,
                                                                 pg_key: Any, blog: Blog) -> None:
    workers(pg_url, redis_url)
    client, headers = api(redis_url), bearer(pg_key())
    brand = client.post("/v1/brands", json={"name": "Aurora", "handles": {"rss": "aurora-roasters"}},
                        headers=headers).json()["id"]
    connection = client.post("/v1/connections", json={
        "brand_id": brand, "network": "rss", "name": "Blog",
        "config": {"feed_url": f"{blog.url}/feed/", "comment_feed_urls": [f"{blog.url}{POST_FEED}"]}}, headers=headers)
    assert connection.status_code == 201 and connection.json()["sync_every_minutes"] == 60

    def synced() -> list[dict[str, Any]]:
        return client.get("/v1/jobs", params={"brand_id": brand, "kind": "connections.sync", "status": "succeeded"},
                          headers=headers).json()["data"]

    wait_for(lambda: bool(synced()), 60, "the connection's first sync")
    [job] = synced()  # once: the next is an hour away
    assert {s["stream"]: s["accepted"] > 0 for s in job["result"]["streams"]} == {"posts": True, "comments": True}
    events = client.get("/v1/events", params={"brand_id": brand, "network": "rss", "limit": 100}, headers=headers)
    assert sum(s["accepted"] for s in job["result"]["streams"]) == len(events.json()["data"])
