"""Brands."""

from __future__ import annotations

from typing import Any

import msgspec

from .. import tables as t
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
