"""/v1/brands"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post

from tribeops.core.schemas.brands import BRAND_EXAMPLE, Brand, BrandCreate, BrandUpdate
from tribeops.core.schemas.common import Page
from tribeops.core.services.brands import BrandService

from ..creating import IdempotencyKey, create
from ..docs import CREATED, READ_ERRORS, WRITE_ERRORS, IdParam, Limit, StartingAfter, body, problems
from ..auth import CallerDep
from ..state import Runtime

BrandIdParam = Annotated[str, IdParam]


class BrandController(Controller):
    path = "/brands"
    tags = ["Brands"]

    @post(operation_id="createBrand", summary="Create a brand", opt={"scope": "write"}, status_code=201,
          responses=problems(*WRITE_ERRORS), response_headers=CREATED)
    async def create_brand(
        self, request: Request[Any, Any, Any], runtime: Runtime, caller: CallerDep,
        data: Annotated[BrandCreate, body(BRAND_EXAMPLE, "The brand to create.")],
        idempotency_key: Annotated[str | None, IdempotencyKey] = None,
    ) -> Response[Brand]:
        """A brand with its identity and its own handles: events from those handles count as the brand."""
        return await create(request, runtime, caller, lambda conn: BrandService(conn, caller).create(data),
                            "/v1/brands")

    @get(operation_id="listBrands", summary="List brands", responses=problems(*READ_ERRORS))
    async def list_brands(self, runtime: Runtime, caller: CallerDep, limit: Limit = 20,
                          starting_after: StartingAfter = None) -> Page[Brand]:
        """The workspace's brands, newest first."""
        async with runtime.db.reading() as conn:
            return await BrandService(conn, caller).list(limit=limit, starting_after=starting_after)

    @get("/{brand_id:str}", operation_id="getBrand", summary="Get a brand", responses=problems(*READ_ERRORS))
    async def get_brand(self, runtime: Runtime, caller: CallerDep, brand_id: BrandIdParam) -> Brand:
        async with runtime.db.reading() as conn:
            return await BrandService(conn, caller).get(brand_id)

    @patch("/{brand_id:str}", operation_id="updateBrand", summary="Update a brand", opt={"scope": "write"},
           responses=problems(*WRITE_ERRORS))
    async def update_brand(self, runtime: Runtime, caller: CallerDep, brand_id: BrandIdParam,
                           data: Annotated[BrandUpdate, body({"name": "Acme Coffee Co."}, "Fields to change.")]
                           ) -> Brand:
        """Change the fields given; objects given (identity, handles) replace the stored ones."""
        async with runtime.db.transaction() as conn:
            return await BrandService(conn, caller).update(brand_id, data)

    @delete("/{brand_id:str}", operation_id="deleteBrand", summary="Delete a brand", opt={"scope": "write"},
            responses=problems(*READ_ERRORS))
    async def delete_brand(self, runtime: Runtime, caller: CallerDep, brand_id: BrandIdParam) -> None:
        """Delete the brand with its tribes, campaigns and connections, its events and its
        scorecards' aggregates; its members stay, as they are the workspace's."""
        async with runtime.db.transaction() as conn:
            await BrandService(conn, caller).delete(brand_id)
