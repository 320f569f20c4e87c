"""Brands."""

from __future__ import annotations

from typing import Any

import msgspec

from .. import tables as t
from ..aggregate import forget_brand, gate
from ..ids import new_id
from ..schemas.brands import Brand, BrandCreate, BrandIdentity, BrandUpdate
from .resources import ResourceService, changes


class BrandService(ResourceService[Brand]):
    table = t.brands
    kind = "brand"

    def to_item(self, row: Any) -> Brand:
        return Brand(id=row.id, name=row.name, identity=msgspec.convert(row.identity, BrandIdentity),
                     handles=dict(row.handles), created_at=row.created_at, updated_at=row.updated_at)

    async def create(self, data: BrandCreate) -> Brand:
        """Create a brand."""
        brand_id = await self._insert({"id": new_id("brand"), "name": data.name,
                                       "identity": msgspec.to_builtins(data.identity), "handles": data.handles})
        return await self.get(brand_id)

    async def update(self, brand_id: str, data: BrandUpdate) -> Brand:
        """Apply a partial update."""
        await self._row(brand_id)
        return await self._update(brand_id, changes(data))

    async def delete(self, brand_id: str) -> None:
        """Delete the brand, its tribes, campaigns and connections, its events and its
        aggregates (its members stay: they are the workspace's). Batches of the brand in flight
        are stored first (their gate), and its run under way ends first (see
        :func:`~tribeops.core.aggregate.forget_brand`); a batch checked before and stored after
        is swept later (:func:`~tribeops.core.aggregate.forget_deleted_brands`)."""
        await self._row(brand_id)
        await gate(self.conn, [brand_id], shared=False)
        await forget_brand(self.conn, brand_id)
        await super().delete(brand_id)
