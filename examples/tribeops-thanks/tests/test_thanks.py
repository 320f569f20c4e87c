"""The plugin as tribeops runs it: installed, found through its entry point ``thanks``.

The fixtures (tribeops_client, tribeops_headers, tribeops_settings, event_builder) come with
tribeops; each test gets an app with every installed plugin, on a fresh SQLite database.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from tribeops.core.db import Database
from tribeops.core.plugin_api import MetricResult
from tribeops.core.tables import events
from tribeops.testing.events import EventBuilder

from tribeops_thanks import METRIC, gratitude_share

MARCH = datetime(2026, 3, 1, tzinfo=timezone.utc)
APRIL = datetime(2026, 4, 1, tzinfo=timezone.utc)


class FakeContext:
    """Answers each ``scalar`` (or ``rows``) query from a list, recording it: a stand-in for tribeops' metric context."""

    campaign_id = tribe_id = network = None

    def __init__(self, *answers: Any, brand_id: str = "brd_test") -> None:
        self.brand_id, self.period_from, self.period_to = brand_id, MARCH, APRIL
        self.answers = list(answers)
        self.queries: list[tuple[str, dict[str, Any]]] = []
        self.memo: dict[str, Any] = {}

    async def scalar(self, sql: str, **params: Any) -> Any:
        self.queries.append((sql, params))
        return self.answers.pop(0)

    async def rows(self, sql: str, **params: Any) -> Any:
        return await self.scalar(sql, **params)  # the answer given is the list of rows


def _stored(settings: Any) -> dict[str, tuple[dict[str, Any], list[str] | None]]:
    async def read() -> dict[str, tuple[dict[str, Any], list[str] | None]]:
        db = Database.from_settings(settings)
        try:
            async with db.reading() as conn:
                rows = await conn.execute(sa.select(events.c.id, events.c.enrichment, events.c.enrichment_errors))
                return {row.id: (row.enrichment, row.enrichment_errors) for row in rows}
        finally:
            await db.dispose()

    return asyncio.run(read())


def _post(client: Any, headers: dict[str, str], items: list[dict[str, Any]]) -> None:
    response = client.post("/v1/events", json={"events": items}, headers=headers)
    assert response.status_code == 200 and response.json()["accepted"] == len(items), response.text


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    names = [ep.name for ep in importlib.metadata.entry_points(group="tribeops")]
    assert "thanks" in names, "install the package first: pip install -e ."


def test_the_plugin_loads_and_registers_without_errors(tribeops_client: Any, tribeops_headers: dict[str, str]) -> None:
    plugins = {p["name"]: p for p in tribeops_client.get("/v1/plugins", headers=tribeops_headers).json()["data"]}
    assert plugins["thanks"]["errors"] == [] and plugins["thanks"]["version"] == "0.1.0"
    assert plugins["thanks"]["registered"] == {"enrichers": ["gratitude"], "metrics": ["gratitude_share"]}


def test_gratitude_share_is_in_the_metric_catalogue(tribeops_client: Any, tribeops_headers: dict[str, str]) -> None:
    metrics = {m["name"]: m for m in tribeops_client.get("/v1/metrics", headers=tribeops_headers).json()["data"]}
    assert metrics["gratitude_share"]["plugin"] == "thanks"
    assert metrics["gratitude_share"]["family"] == "relationship"


def test_stored_events_carry_the_gratitude_flag(tribeops_client: Any, tribeops_headers: dict[str, str],
                                                tribeops_settings: Any, event_builder: EventBuilder) -> None:
    grateful = event_builder.comment(actor="anna", text="Grazie mille per la risposta!")
    declining = event_builder.reply(actor="marco", text="No thanks, I'm good")
    liking = event_builder.like(actor="sara")
    _post(tribeops_client, tribeops_headers, [grateful, declining, liking])
    stored = _stored(tribeops_settings)
    assert [stored[e["id"]][0]["gratitude"] for e in (grateful, declining, liking)] == [True, False, False]
    assert not any(error.startswith("thanks:") for _, errors in stored.values() for error in errors or [])


def test_the_share_is_grateful_conversation_over_conversation() -> None:
    context = FakeContext(4, 1)
    assert asyncio.run(gratitude_share(context)) == MetricResult(0.25, 1, 4)
    # The scorecard's scope and period come with {events}: nothing to pass.
    assert [("{events}" in sql, params) for sql, params in context.queries] == [(True, {})] * 2


def test_no_conversation_means_no_value_rather_than_zero() -> None:
    assert asyncio.run(gratitude_share(FakeContext(0, 0))) == MetricResult(None, 0, 0)


def test_the_scorecard_counts_members_conversation_in_its_scope_and_period(
        tribeops_client: Any, tribeops_headers: dict[str, str], tribeops_brand: dict[str, Any],
        tribeops_scorecard: Any) -> None:
    brand = tribeops_brand["id"]
    campaign = tribeops_client.post("/v1/campaigns", json={"brand_id": brand, "name": "Spring", "mode": "pull"},
                                    headers=tribeops_headers).json()["id"]
    events_of = EventBuilder(brand, network="x", start=datetime(2026, 3, 2, tzinfo=timezone.utc))
    in_campaign = {"campaign_id": campaign}
    _post(tribeops_client, tribeops_headers, [
        events_of.comment(actor="anna", text="Thank you!", **in_campaign),
        events_of.reply(actor="marco", text="grazie!!"),
        events_of.event("mention", actor="sara", text="@brand where do you ship?", **in_campaign),
        events_of.post(actor="brand", text="Thanks everyone!"),  # the brand's own post: not members' conversation
        events_of.like(actor="luca"),  # not conversation
        events_of.comment(actor="anna", text="Thanks again", occurred_at="2026-02-10T10:00:00+00:00"),  # outside
    ])
    for scope, parts in (({}, (2, 3)), ({"campaign_id": campaign}, (1, 2))):
        card = tribeops_scorecard(brand, **{"from": "2026-03-01", "to": "2026-04-01"}, **scope)
        share = {m["name"]: m for m in card["metrics"]}[METRIC]
        assert (share["numerator"], share["denominator"]) == parts and card["errors"] == []
