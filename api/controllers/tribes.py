"""/v1/tribes"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post

from tribeops.core.schemas.common import Page
from tribeops.core.schemas.tribes import TRIBE_EXAMPLE, Tribe, TribeCreate, TribeUpdate
from tribeops.core.services.tribes import TribeService

from ..creating import IdempotencyKey, create
from ..docs import CREATED, READ_ERRORS, WRITE_ERRORS, IdFilter, IdParam, Limit, StartingAfter, body, problems
from ..auth import CallerDep
from ..state import Runtime

TribeIdParam = Annotated[str, IdParam]


class TribeController(Controller):
    path = "/tribes"
    tags = ["Tribes"]

    @post(operation_id="createTribe", summary="Create a tribe", opt={"scope": "write"}, status_code=201,
          responses=problems(*WRITE_ERRORS), response_headers=CREATED)
    async def create_tribe(
        self, request: Request[Any, Any, Any], runtime: Runtime, caller: CallerDep,
        data: Annotated[TribeCreate, body(TRIBE_EXAMPLE, "The tribe to create.")],
        idempotency_key: Annotated[str | None, IdempotencyKey] = None,
    ) -> Response[Tribe]:
        """A community of one of the workspace's brands, with its strategy and membership rules."""
        return await create(request, runtime, caller, lambda conn: TribeService(conn, caller).create(data),
                            "/v1/tribes")

    @get(operation_id="listTribes", summary="List tribes", responses=problems(*READ_ERRORS))
    async def list_tribes(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                          starting_after: StartingAfter = None,
                          brand_id: Annotated[str | None, IdFilter] = None) -> Page[Tribe]:
        """The workspace's tribes, newest first, optionally of one brand."""
        async with runtime.db.reading() as conn:
            return await TribeService(conn, caller).list_tribes(limit=limit, starting_after=starting_after,
                                                                brand_id=brand_id)

    @get("/{tribe_id:str}", operation_id="getTribe", summary="Get a tribe", responses=problems(*READ_ERRORS))
    async def get_tribe(self, runtime: Runtime, caller: CallerDep, tribe_id: TribeIdParam) -> Tribe:
        async with runtime.db.reading() as conn:
            return await TribeService(conn, caller).get(tribe_id)

    @patch("/{tribe_id:str}", operation_id="updateTribe", summary="Update a tribe", opt={"scope": "write"},
           responses=problems(*WRITE_ERRORS))
    async def update_tribe(self, runtime: Runtime, caller: CallerDep, tribe_id: TribeIdParam,
                           data: Annotated[TribeUpdate, body({"kind": "fans"}, "Fields to change.")]) -> Tribe:
        """Change the fields given; objects given (strategy, rules) replace the stored ones."""
        async with runtime.db.transaction() as conn:
            return await TribeService(conn, caller).update(tribe_id, data)

    @delete("/{tribe_id:str}", operation_id="deleteTribe", summary="Delete a tribe", opt={"scope": "write"},
            responses=problems(*READ_ERRORS))
    async def delete_tribe(self, runtime: Runtime, caller: CallerDep, tribe_id: TribeIdParam) -> None:
        """Delete the tribe; campaigns that addressed it no longer list it in their brief."""
        async with runtime.db.transaction() as conn:
            await TribeService(conn, caller).delete(tribe_id)
