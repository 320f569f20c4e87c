"""A plugin's metrics in a scorecard: they only read, what they return is checked, and their
failures are told once, briefly, with where they happened."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core import scorecards
from tribeops.core.plugin_api import Metric, MetricResult, hookimpl
from tribeops.core.settings import Settings

from ..conftest import bearer
from ..scoring import run_job, values

LONG_SQL = "SELECT " + " + ".join(f"missing_column_{i}" for i in range(200)) + " FROM rollups WHERE {where}"


class GuardedPlugin:
    __name__ = "probe_guard"

    def __init__(self) -> None:
        self.slow_calls = 0

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        async def writes(ctx: Any) -> MetricResult:
            await ctx.scalar("UPDATE brands SET name = 'Changed' WHERE id = :brand_id RETURNING 1")
            return MetricResult(1.0)

        async def deletes(ctx: Any) -> MetricResult:
            await ctx.rows("DELETE FROM rollups WHERE {where} RETURNING 1")
            return MetricResult(1.0)

        async def decimal_rate(ctx: Any) -> MetricResult:
            return MetricResult.ratio(Decimal(1), Decimal(4))  # as PostgreSQL's SUM of integers gives

        async def wordy(ctx: Any) -> MetricResult:
            return MetricResult("lots")  # type: ignore[arg-type]

        async def infinite(ctx: Any) -> MetricResult:
            return MetricResult(float("inf"))

        async def short_periods_fail(ctx: Any) -> MetricResult:
            if (ctx.period_to - ctx.period_from).days < 8:
                raise RuntimeError("needs a longer period")
            return MetricResult(await ctx.rollup("n", ("like",)))

        async def slow(ctx: Any) -> MetricResult:
            self.slow_calls += 1
            await asyncio.sleep(5)
            return MetricResult(0.0)

        async def clash(ctx: Any) -> MetricResult:
            return MetricResult(await ctx.scalar("SELECT COUNT(*) FROM rollups WHERE {where}", tribe_id=None))

        async def letters(ctx: Any) -> MetricResult:
            return MetricResult(await ctx.rollup("n", "like"))

        async def long_bad_sql(ctx: Any) -> MetricResult:
            return MetricResult(await ctx.scalar(LONG_SQL))

        for name, compute in (("writes", writes), ("deletes", deletes), ("decimal_rate", decimal_rate),
                              ("wordy", wordy), ("infinite", infinite), ("short_periods_fail", short_periods_fail),
                              ("slow", slow), ("clash", clash), ("letters", letters),
                              ("long_bad_sql", long_bad_sql)):
            register(Metric(name=name, family="risk", description="A probe.", formula="-", unit="-",
                            compute=compute))


def test_plugin_metrics_only_read_and_their_failures_are_brief(database_url: str, new_key: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = GuardedPlugin()
    app = create_app(Settings(database_url=database_url, key_cache_seconds=0), plugins=[plugin])
    headers = bearer(new_key())
    with TestClient(app) as c:
        brand = c.post("/v1/brands", json={"name": "Kept"}, headers=headers).json()["id"]
        days = ("2026-03-30", "2026-04-02", "2026-04-08", "2026-04-15")
        likes = [{"id": f"l{i}", "brand_id": brand, "network": "x", "kind": "like", "actor": {"id": f"u{i}"},
                  "occurred_at": f"{day}T10:00:00Z"} for i, day in enumerate(days)]
        assert c.post("/v1/events", json={"events": likes}, headers=headers).json()["accepted"] == 4
        monkeypatch.setattr(scorecards, "METRIC_TIMEOUT", 0.5)
        assert run_job(c, headers, brand)["status"] == "succeeded"
        calls = plugin.slow_calls
        params = {"brand_id": brand, "from": "2026-03-30", "to": "2026-04-20", "granularity": "week"}
        card = c.get("/v1/scorecards", params=params, headers=headers).json()

        # Nothing written: the brand keeps its name, the likes are all still counted.
        assert c.get(f"/v1/brands/{brand}", headers=headers).json()["name"] == "Kept"
        got = values(card)
        assert got["likes"] == 4 and [values(point)["likes"] for point in card["series"]] == [2, 1, 1]
        assert got["writes"] is None and got["deletes"] is None
        # A Decimal is a number; a string or an infinite value is the plugin's failure.
        rate = next(m for m in card["metrics"] if m["name"] == "decimal_rate")
        assert (rate["value"], rate["numerator"], rate["denominator"]) == (0.25, 1.0, 4.0)
        assert got["wordy"] is None and got["infinite"] is None
        # Timed out over the whole period: not called again for each of the three weeks.
        assert plugin.slow_calls == calls + 1
        assert got["short_periods_fail"] == 4 and [values(p)["short_periods_fail"] for p in card["series"]] == [
            None, None, None]

        errors = {e.split(" ")[2]: e for e in card["errors"]}
        assert set(errors) == {"'writes'", "'deletes'", "'wordy'", "'infinite'", "'short_periods_fail'", "'slow'",
                               "'clash'", "'letters'", "'long_bad_sql'"}
        assert errors["'wordy'"] == ("probe_guard: metric 'wordy' raised TypeError: returned a value of type str, "
                                     "not a number")
        assert errors["'slow'"] == "probe_guard: metric 'slow' timed out after 0.5 s"
        assert errors["'short_periods_fail'"] == (
            "probe_guard: metric 'short_periods_fail' raised RuntimeError: needs a longer period "
            "(over 2026-03-30 to 2026-04-06 and 2 more)")
        assert ":tribe_id" in errors["'clash'"] and "other names" in errors["'clash'"]
        assert "not the string 'like'" in errors["'letters'"]
        for error in card["errors"]:  # the driver's message, not the statement nor the values bound to it
            assert len(error) < 500 and "missing_column_150" not in error and brand not in error, error
        # The plugin's errors list each failure once, however many scorecards met it.
        c.get("/v1/scorecards", params=params, headers=headers)
        listed = {p["name"]: p for p in c.get("/v1/plugins", headers=headers).json()["data"]}["probe_guard"]
        assert "probe_guard: metric 'slow' timed out after 0.5 s" in listed["errors"]
        assert len(listed["errors"]) == len(set(listed["errors"]))
        # Side by side, the scorecards wait for it once, not once each.
        tribes = [c.post("/v1/tribes", json={"brand_id": brand, "name": n}, headers=headers).json()["id"]
                  for n in ("A", "B")]
        calls = plugin.slow_calls
        compared = c.get("/v1/scorecards/compare", params={"brand_id": brand, "tribe_id": tribes}, headers=headers)
        assert compared.status_code == 200 and plugin.slow_calls == calls + 1
        for card in compared.json()["scorecards"]:
            assert "probe_guard: metric 'slow' timed out after 0.5 s" in card["errors"]


class TargetedPlugin:
    __name__ = "probe_targeted"

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        async def likes_again(ctx: Any) -> MetricResult:
            return MetricResult(await ctx.rollup("n", ("like",)))

        register(Metric(name="likes_again", family="vanity", description="Likes.", formula="count(like)",
                        unit="likes", compute=likes_again))


def test_a_target_on_a_metric_whose_plugin_is_gone_is_told(database_url: str, new_key: Any,
                                                          client: TestClient[Any]) -> None:
    headers = bearer(new_key())
    with TestClient(create_app(Settings(database_url=database_url, key_cache_seconds=0),
                               plugins=[TargetedPlugin()])) as with_plugin:
        brand = with_plugin.post("/v1/brands", json={"name": "B"}, headers=headers).json()["id"]
        campaign = with_plugin.post("/v1/campaigns", json={
            "brand_id": brand, "name": "C", "mode": "push",
            "targets": [{"metric": "likes_again", "comparison": "gte", "value": 1}]}, headers=headers)
        assert campaign.status_code == 201, campaign.text
        params = {"brand_id": brand, "campaign_id": campaign.json()["id"]}
        card = with_plugin.get("/v1/scorecards", params=params, headers=headers).json()
        assert card["errors"] == [] and values(card)["likes_again"] == 0
    card = client.get("/v1/scorecards", params=params, headers=headers).json()  # the service without it
    assert "likes_again" not in values(card)
    assert card["errors"] == ["The campaign's target on 'likes_again' is not shown: no metric of that name is "
                              "registered (its plugin may have been removed)."]


class EventsPlugin:
    __name__ = "probe_events"

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        async def from_events(ctx: Any) -> MetricResult:
            count = await ctx.scalar("SELECT COUNT(*) FROM {events} e WHERE e.origin = 'member' "
                                     "AND e.kind = 'comment' AND e.text LIKE :word", word="%roast%")
            return MetricResult(count)

        async def from_rollups(ctx: Any) -> MetricResult:
            return MetricResult(await ctx.rollup("n", ("comment",), "member"))

        for name, compute in (("comments_from_events", from_events), ("comments_from_rollups", from_rollups)):
            register(Metric(name=name, family="vanity", description="-", formula="-", unit="comments",
                            compute=compute))


def test_events_read_through_their_placeholder_are_the_scopes_own(database_url: str, new_key: Any) -> None:
    headers = bearer(new_key())
    with TestClient(create_app(Settings(database_url=database_url, key_cache_seconds=0),
                               plugins=[EventsPlugin()])) as c:
        brand = c.post("/v1/brands", json={"name": "B", "handles": {"x": "acme"}}, headers=headers).json()["id"]
        tribe = c.post("/v1/tribes", json={"brand_id": brand, "name": "Anna's", "rules": {"handles": ["anna"]}},
                       headers=headers).json()["id"]
        campaign = c.post("/v1/campaigns", json={"brand_id": brand, "name": "C", "mode": "pull"},
                          headers=headers).json()["id"]
        sent = [("anna", "x", campaign, "2026-03-02T00:00:00Z"), ("anna", "instagram", None, "2026-03-03T23:59:59Z"),
                ("bob", "x", campaign, "2026-03-04T10:00:00Z"), ("bob", "x", None, "2026-03-09T00:00:00Z"),
                ("carla", "instagram", campaign, "2026-03-10T12:00:00Z")]
        comments = [{"id": f"c{i}", "brand_id": brand, "network": network, "kind": "comment",
                     "actor": {"id": who, "handle": who}, "occurred_at": at, "text": "Lovely roast",
                     **({"campaign_id": in_campaign} if in_campaign else {})}
                    for i, (who, network, in_campaign, at) in enumerate(sent)]
        assert c.post("/v1/events", json={"events": comments}, headers=headers).json()["accepted"] == 5
        assert run_job(c, headers, brand)["status"] == "succeeded"
        seen = {}
        for scope in ({}, {"campaign_id": campaign}, {"tribe_id": tribe}, {"network": "instagram"},
                      {"campaign_id": campaign, "network": "x"}, {"from": "2026-03-03", "to": "2026-03-09"}):
            card = c.get("/v1/scorecards", params={"brand_id": brand, "from": "2026-03-01", "to": "2026-03-12",
                                                   "granularity": "week", **scope}, headers=headers).json()
            assert card["errors"] == [], card["errors"]
            for point in [card, *card["series"]]:
                got = values(point)
                assert got["comments_from_events"] == got["comments_from_rollups"], (scope, point["period"])
            seen[tuple(scope)] = values(card)["comments_from_events"]
        assert list(seen.values()) == [5, 3, 2, 2, 2, 2]
