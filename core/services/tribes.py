"""Tribes."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa

from .. import tables as t
from ..ids import new_id
from ..schemas.common import Page
from ..schemas.tribes import Tribe, TribeCreate, TribeRules, TribeStrategy, TribeUpdate
from .resources import ResourceService, changes


class TribeService(ResourceService[Tribe]):
    table = t.tribes
    kind = "tribe"

    def to_item(self, row: Any) -> Tribe:
        return Tribe(id=row.id, brand_id=row.brand_id, name=row.name, kind=row.kind, description=row.description,
                     strategy=msgspec.convert(row.strategy, TribeStrategy),
                     rules=msgspec.convert(row.rules, TribeRules),
                     created_at=row.created_at, updated_at=row.updated_at)

    async def create(self, data: TribeCreate) -> Tribe:
        """Create a tribe of one of the caller's brands (422 on ``/brand_id`` otherwise)."""
        await self.require_brand(data.brand_id)
        values = msgspec.to_builtins(data)
        return await self.get(await self._insert({"id": new_id("tribe"), **values}))

    async def update(self, tribe_id: str, data: TribeUpdate) -> Tribe:
        """Apply a partial update."""
        await self._row(tribe_id)
        return await self._update(tribe_id, changes(data))

    async def list_tribes(self, *, limit: int, starting_after: str | None, brand_id: str | None) -> Page[Tribe]:
        where = [t.tribes.c.brand_id == brand_id] if brand_id else []
        return await self.list(limit=limit, starting_after=starting_after, where=where)

    async def delete(self, object_id: str) -> None:
        """Delete the tribe and take it out of the briefs of the campaigns that named it."""
        await self._row(object_id)
        linked = (await self.conn.execute(sa.select(t.campaigns.c.id, t.campaigns.c.brief).where(
            t.campaigns.c.workspace_id == self.ws,
            t.campaigns.c.id.in_(sa.select(t.campaign_tribes.c.campaign_id).where(
                t.campaign_tribes.c.tribe_id == object_id))))).all()
        for row in linked:
            brief = dict(row.brief)
            brief["to_whom"] = [tid for tid in brief.get("to_whom", []) if tid != object_id]
            await self.conn.execute(sa.update(t.campaigns).where(t.campaigns.c.id == row.id).values(brief=brief))
        await super().delete(object_id)
