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
                   QueryParameter(max_items=10, description="Repeat to compare several.")]
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
        is met; a series per day, week or month when asked. The period defaults to the campaign's
        (or to all the data); `fresh_as_of` says when the aggregates were last brought up to date."""
        scope = Scope(brand_id=brand_id, campaign_id=campaign_id, tribe_id=tribe_id, network=network)
        async with runtime.db.reading() as conn:
            return await scorecards.build(conn, runtime.registry, caller, scope, from_, to, granularity)

    @get("/compare", operation_id="compareScorecards", summary="Compare campaigns or tribes",
         responses=problems(*READ_ERRORS))
    async def compare(self, runtime: Runtime, caller: CallerDep, campaign_id: IdList = None,
                      tribe_id: IdList = None, brand_id: Annotated[str | None, IdFilter] = None,
                      from_: Annotated[date | None, QueryParameter(name="from")] = None,
                      to: Day = None) -> Comparison:
        """Scorecards side by side: several campaigns (each over its own period unless `from`/`to`
        are given), or several tribes of `brand_id`."""
        if bool(campaign_id) == bool(tribe_id):
            raise ValidationFailed([FieldError("/campaign_id", "Give campaign_id or tribe_id (repeated), not both.",
                                               "query")])
        cards = []
        async with runtime.db.reading() as conn:
            scopes = await scorecards.comparison_scopes(conn, caller, campaign_id or [], tribe_id or [], brand_id)
            for scope in scopes:
                cards.append(await scorecards.build(conn, runtime.registry, caller, scope, from_, to, "total"))
        return Comparison(scorecards=cards)
