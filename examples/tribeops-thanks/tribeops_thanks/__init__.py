"""tribeops-thanks: is the community saying thank you?

Two parts, registered through the public plugin API only:

- the enricher ``gratitude`` adds ``gratitude: true/false`` to every event at ingest;
- the relationship metric ``gratitude_share`` is the share of members' comments, replies
  and mentions that thank someone, read from that field in the ``events`` table.

Gratitude is a relationship signal vanity metrics miss: a thousand likes say less about a
tribe than a hundred members taking the time to say "grazie".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tribeops.core.plugin_api import Enricher, Metric, MetricContext, MetricResult, Register, hookimpl, require_api

from .gratitude import is_grateful

require_api("1.2")

__version__ = "0.1.0"

FIELD = "gratitude"
METRIC = "gratitude_share"

# {events}: the scorecard's scope (brand, and campaign, tribe, network when given) and period.
_CONVERSATION = """
    FROM {events} e
    WHERE e.origin = 'member' AND e.kind IN ('comment', 'reply', 'mention')"""
CONVERSATION_SQL = "SELECT COUNT(*)" + _CONVERSATION
"""Members' comments, replies and mentions in the scope and period: the denominator."""
GRATEFUL_SQL = CONVERSATION_SQL + " AND CAST(e.enrichment ->> 'gratitude' AS TEXT) IN ('true', '1')"
"""Those the enricher flagged (JSON true reads 'true' on PostgreSQL and 1 on SQLite): the numerator."""


def enrich(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``gratitude`` field of one event, from its text."""
    return {FIELD: is_grateful(event.get("text"))}


async def gratitude_share(ctx: MetricContext) -> MetricResult:
    """Grateful share of the members' conversation; None (not 0) when members said nothing."""
    conversation = await ctx.scalar(CONVERSATION_SQL)
    grateful = await ctx.scalar(GRATEFUL_SQL)
    return MetricResult.ratio(float(grateful or 0), float(conversation or 0))


@hookimpl
def register_enrichers(register: Register[Enricher]) -> None:
    register(Enricher(
        name="gratitude",
        description="Flags events whose text thanks someone (English, Italian, Spanish, French, German, Portuguese).",
        enrich=enrich,
        fields={FIELD: "true when the text says thank you; declines such as 'no thanks' do not count"},
    ))


@hookimpl
def register_metrics(register: Register[Metric]) -> None:
    register(Metric(
        name=METRIC,
        family="relationship",
        description="Share of members' comments, replies and mentions that say thank you.",
        formula="member comments, replies and mentions flagged gratitude / member comments, replies and mentions",
        unit="ratio",
        compute=gratitude_share,
    ))
