"""Jobs: 202 with a Location to poll, tenant isolation, plugin metrics and their failures."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.plugin_api import Metric, MetricResult, hookimpl
from tribeops.core.settings import Settings

from ..conftest import bearer
from ..scoring import run_job, values


def test_job_lifecycle_and_isolation(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any],
                                     new_key: Any) -> None:
    job = run_job(client, admin, brand["id"])
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert job["started_at"] >= job["created_at"] and job["finished_at"] >= job["started_at"]
    assert job["result"]["brand_id"] == brand["id"]
    other = bearer(new_key())
    assert client.get(f"/v1/jobs/{job['id']}", headers=other).status_code == 404
    refused = client.post("/v1/jobs", json={"kind": "scorecards.aggregate", "params": {"brand_id": brand["id"]}},
                          headers=other)
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/params/brand_id"
    bad = client.post("/v1/jobs", json={"kind": "reindex.everything", "params": {"brand_id": brand["id"]}},
                      headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/kind"
    listed = client.get("/v1/jobs", params={"status": "succeeded"}, headers=admin).json()["data"]
    assert job["id"] in {j["id"] for j in listed}
    rebuild = run_job(client, admin, brand["id"], "scorecards.rebuild")
    other_brand = client.post("/v1/brands", json={"name": "Other"}, headers=admin).json()["id"]
    run_job(client, admin, other_brand, "scorecards.rebuild")
    for params, expected in (({"kind": "scorecards.rebuild", "brand_id": brand["id"]}, [rebuild["id"]]),
                             ({"kind": "scorecards.aggregate", "brand_id": brand["id"]}, [job["id"]])):
        assert [j["id"] for j in client.get("/v1/jobs", params=params, headers=admin).json()["data"]] == expected


def test_a_job_says_when_to_poll_it_again_until_it_has_finished(client: TestClient[Any], admin: dict[str, str],
                                                                brand: dict[str, Any]) -> None:
    from datetime import timedelta

    from tribeops.api.controllers.jobs import retry_after
    from tribeops.core.services.context import utcnow

    created = client.post("/v1/jobs", json={"kind": "scorecards.rebuild", "params": {"brand_id": brand["id"]}},
                          headers=admin)
    assert created.status_code == 202 and created.json()["status"] == "queued"
    assert created.headers["retry-after"] == "1"
    job = run_job(client, admin, brand["id"], "scorecards.rebuild")  # the same job, coalesced, or a later one
    assert "retry-after" not in client.get(f"/v1/jobs/{job['id']}", headers=admin).headers
    # A long run is polled less often, never less than every 30 s.
    assert [retry_after("running", utcnow() - timedelta(seconds=s)) for s in (0, 50, 100, 1000)] == [1, 10, 20, 30]
    assert retry_after("failed", utcnow()) is None


def test_scorecards_catch_up_without_any_job_request(client: TestClient[Any], admin: dict[str, str],
                                                     brand: dict[str, Any]) -> None:
    import time

    like = {"id": "auto-1", "brand_id": brand["id"], "network": "x", "kind": "like", "actor": {"id": "u"},
            "occurred_at": "2026-05-01T10:00:00Z"}
    client.post("/v1/events", json={"events": [like]}, headers=admin)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        card = client.get("/v1/scorecards", params={"brand_id": brand["id"]}, headers=admin).json()
        if values(card)["likes"] == 1:
            assert card["pending"] is False and card["fresh_as_of"]
            return
        time.sleep(0.2)
    raise AssertionError("the scorecard never caught up")


class MetricPlugin:
    __name__ = "probe_metrics"

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        async def likes_squared(ctx: Any) -> MetricResult:
            likes = await ctx.rollup("n", ("like",))
            return MetricResult(likes * likes, likes, None)

        def broken(ctx: Any) -> MetricResult:
            raise ZeroDivisionError("probe")

        register(Metric(name="likes_squared", family="vanity", description="Likes, squared.", formula="likes^2",
                        unit="likes^2", compute=likes_squared))
        async def bad_sql(ctx: Any) -> MetricResult:
            assert await ctx.scalar("SELECT COUNT(*) FROM rollups WHERE {where}")  # its savepoint begins here
            return MetricResult(await ctx.scalar("SELECT nope FROM nowhere WHERE {where}"))

        register(Metric(name="always_broken", family="risk", description="Raises.", formula="1/0", unit="-",
                        compute=broken))
        # Among the first metrics: on PostgreSQL a failed statement would abort the ones after it.
        register(Metric(name="bad_sql", family="vanity", description="Reads a table that is not there.",
                        formula="-", unit="-", compute=bad_sql))


def test_plugin_metrics_appear_like_built_ins_and_failures_are_reported(database_url: str, new_key: Any) -> None:
    app = create_app(Settings(database_url=database_url, key_cache_seconds=0), plugins=[MetricPlugin()])
    headers = bearer(new_key())
    with TestClient(app) as c:
        brand = c.post("/v1/brands", json={"name": "B"}, headers=headers).json()["id"]
        likes = [{"id": f"l{i}", "brand_id": brand, "network": "x", "kind": "like", "actor": {"id": f"u{i}"},
                  "occurred_at": "2026-04-01T10:00:00Z"} for i in range(3)]
        c.post("/v1/events", json={"events": likes}, headers=headers)
        job = run_job(c, headers, brand)
        assert job["status"] == "succeeded"
        assert job["errors"] and "probe_metrics: metric 'always_broken' raised ZeroDivisionError" in job["errors"][0]
        card = c.get("/v1/scorecards", params={"brand_id": brand}, headers=headers)
        assert card.status_code == 200
        got = values(card.json())
        assert got["likes_squared"] == 9 and got["always_broken"] is None and got["likes"] == 3
        assert got["bad_sql"] is None and got["active_members"] == 0 and got["applause_rate"] is None
        errors = card.json()["errors"]
        assert [e.split(" raised ")[0] for e in errors] == ["probe_metrics: metric 'always_broken'",
                                                           "probe_metrics: metric 'bad_sql'"]
        catalogue = {m["name"]: m for m in c.get("/v1/metrics", headers=headers).json()["data"]}
        assert catalogue["likes_squared"]["plugin"] == "probe_metrics"
        assert catalogue["conversation_rate"]["plugin"] == "tribeops.plugins.metrics"


class SlowMetricPlugin:
    __name__ = "probe_slow"

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        async def slow(ctx: Any) -> MetricResult:
            import asyncio

            await asyncio.sleep(3600)
            return MetricResult(1.0)

        register(Metric(name="slow_metric", family="vanity", description="Takes an hour.", formula="-", unit="-",
                        compute=slow))


def test_the_check_after_a_job_gives_a_slow_metric_seconds_not_a_scorecards_minute(
        database_url: str, new_key: Any, monkeypatch: Any) -> None:
    from tribeops.core import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "CHECK_TIMEOUT", 0.2)  # a scorecard would wait METRIC_TIMEOUT, 60 s
    app = create_app(Settings(database_url=database_url, key_cache_seconds=0), plugins=[SlowMetricPlugin()])
    headers = bearer(new_key())
    with TestClient(app) as c:
        brand = c.post("/v1/brands", json={"name": "B"}, headers=headers).json()["id"]
        job = run_job(c, headers, brand, timeout=20)
        assert job["status"] == "succeeded" and job["errors"] == ["probe_slow: metric 'slow_metric' timed out after 0.2 s"]
