"""/v1/scorecards: vanity beside relationship, push beside pull, per scope and period."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, get
from msgspec import Meta
from litestar.params import FromQuery, QueryParameter

from tribeops.core import scorecards
from tribeops.core.errors import FieldError, ValidationFailed
from tribeops.core.schemas.common import Network
from tribeops.core.schemas.scorecards import Comparison, Granularity, Scope, Scorecard

from ..auth import CallerDep
from ..docs import READ_ERRORS, IdFilter, problems
from ..state import Runtime

IdList = Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]] | None,
                   QueryParameter(max_items=10, schema_extra={"uniqueItems": True},
                                  description="Repeat to compare several (each once).")]
Day = Annotated[date | None, QueryParameter(description="A UTC day, YYYY-MM-DD (from: included, to: excluded).")]


class ScorecardController(Controller):
    path = "/scorecards"
    tags = ["Scorecards"]

    @get(operation_id="getScorecard", summary="Get a scorecard", responses=problems(*READ_ERRORS))
    async def get_scorecard(self, runtime: Runtime, caller: CallerDep, brand_id: Annotated[str, IdFilter],
                            campaign_id: Annotated[str | None, IdFilter] = None,
                            tribe_id: Annotated[str | None, IdFilter] = None,
                            network: FromQuery[Network | None] = None,
                            from_: Annotated[date | None, QueryParameter(name="from")] = None,
                            to: Day = None, granularity: FromQuery[Granularity] = "total") -> Scorecard:
        """Every metric of the scope over the period, with the campaign's targets and whether each
        is met; a series per day, week or month when asked. A bound left out is the campaign's
        (a campaign ending at midnight ends the day before), else the first or last day of the
        scope's data, keeping at most the latest ten years; it never contradicts a bound given.
        `fresh_as_of` says when the aggregates were last brought up to date."""
        scope = Scope(brand_id=brand_id, campaign_id=campaign_id, tribe_id=tribe_id, network=network)
        async with runtime.db.reading() as conn:
            return await scorecards.build(conn, runtime.registry, caller, scope, from_, to, granularity)

    @get("/compare", operation_id="compareScorecards", summary="Compare campaigns or tribes",
         responses=problems(*READ_ERRORS))
    async def compare(self, runtime: Runtime, caller: CallerDep, campaign_id: IdList = None,
                      tribe_id: IdList = None, brand_id: Annotated[str | None, IdFilter] = None,
                      network: FromQuery[Network | None] = None,
                      from_: Annotated[date | None, QueryParameter(name="from")] = None,
                      to: Day = None, granularity: FromQuery[Granularity] = "total") -> Comparison:
        """Scorecards side by side, each as `GET /v1/scorecards` gives it: several campaigns (each
        over its own period unless `from`/`to` are given; with `brand_id`, all of that brand), or
        several tribes of `brand_id` (over one period, the span of theirs unless given, so that
        their series line up); optionally on one `network`, with a series each."""
        if bool(campaign_id) == bool(tribe_id):
            message = "Give campaign_id or tribe_id, not both." if campaign_id else \
                "Give the campaigns (campaign_id) or the tribes (tribe_id) to compare, each repeated."
            raise ValidationFailed([FieldError("/campaign_id", message, "query")])
        async with runtime.db.reading() as conn:
            cards = await scorecards.compare(conn, runtime.registry, caller, campaign_id or [], tribe_id or [],
                                             brand_id, network, from_, to, granularity)
        return Comparison(scorecards=cards)
