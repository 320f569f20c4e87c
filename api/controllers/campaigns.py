"""/v1/campaigns"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromQuery

from tribeops.core.schemas.campaigns import CAMPAIGN_EXAMPLE, Campaign, CampaignCreate, CampaignStatus, CampaignUpdate
from tribeops.core.schemas.common import Page
from tribeops.core.services.campaigns import CampaignService

from ..creating import IdempotencyKey, create
from ..docs import CREATED, READ_ERRORS, WRITE_ERRORS, IdFilter, IdParam, Limit, StartingAfter, body, problems
from ..auth import CallerDep
from ..state import Runtime

CampaignIdParam = Annotated[str, IdParam]


class CampaignController(Controller):
    path = "/campaigns"
    tags = ["Campaigns"]

    @post(operation_id="createCampaign", summary="Create a campaign", opt={"scope": "write"}, status_code=201,
          responses=problems(*WRITE_ERRORS), response_headers=CREATED)
    async def create_campaign(
        self, request: Request[Any, Any, Any], runtime: Runtime, caller: CallerDep,
        data: Annotated[CampaignCreate, body(CAMPAIGN_EXAMPLE, "The campaign to create.")],
        idempotency_key: Annotated[str | None, IdempotencyKey] = None,
    ) -> Response[Campaign]:
        """A push or pull campaign: brief (what, to whom, why, how), kit message, tracking and targets
        (each on a metric `GET /v1/metrics` lists, one per metric)."""
        return await create(request, runtime, caller,
                            lambda conn: CampaignService(conn, caller).create(data, runtime.registry.metrics),
                            "/v1/campaigns")

    @get(operation_id="listCampaigns", summary="List campaigns", responses=problems(*READ_ERRORS))
    async def list_campaigns(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                             starting_after: StartingAfter = None,
                             brand_id: Annotated[str | None, IdFilter] = None,
                             tribe_id: Annotated[str | None, IdFilter] = None,
                             status: FromQuery[CampaignStatus | None] = None) -> Page[Campaign]:
        """The workspace's campaigns, newest first, filtered by brand, addressed tribe or status."""
        async with runtime.db.reading() as conn:
            return await CampaignService(conn, caller).list_campaigns(
                limit=limit, starting_after=starting_after, brand_id=brand_id, tribe_id=tribe_id, status=status)

    @get("/{campaign_id:str}", operation_id="getCampaign", summary="Get a campaign",
         responses=problems(*READ_ERRORS))
    async def get_campaign(self, runtime: Runtime, caller: CallerDep, campaign_id: CampaignIdParam) -> Campaign:
        async with runtime.db.reading() as conn:
            return await CampaignService(conn, caller).get(campaign_id)

    @patch("/{campaign_id:str}", operation_id="updateCampaign", summary="Update a campaign",
           opt={"scope": "write"}, responses=problems(*WRITE_ERRORS))
    async def update_campaign(self, runtime: Runtime, caller: CallerDep, campaign_id: CampaignIdParam,
                              data: Annotated[CampaignUpdate, body({"status": "active"}, "Fields to change.")]
                              ) -> Campaign:
        """Change the fields given; the resulting period and brief are checked like a new campaign's."""
        async with runtime.db.transaction() as conn:
            return await CampaignService(conn, caller).update(campaign_id, data, runtime.registry.metrics)

    @delete("/{campaign_id:str}", operation_id="deleteCampaign", summary="Delete a campaign",
            opt={"scope": "write"}, responses=problems(*READ_ERRORS))
    async def delete_campaign(self, runtime: Runtime, caller: CallerDep, campaign_id: CampaignIdParam) -> None:
        """Delete the campaign. Its events stay (in the brand's figures); its kit message goes, and
        the copies of it stop counting for the megaphone index once the brand's next run is done."""
        async with runtime.db.transaction() as conn:
            await CampaignService(conn, caller).delete(campaign_id)
