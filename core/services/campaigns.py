"""Campaigns, with their brief's tribes kept as rows for the ``tribe_id`` filter."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from .. import tables as t
from ..aggregate import mark_pending
from ..errors import FieldError, ValidationFailed
from ..ids import new_id
from ..schemas.campaigns import Brief, Campaign, CampaignCreate, CampaignUpdate, Target
from ..schemas.common import Page
from .resources import ResourceService, changes


class CampaignService(ResourceService[Campaign]):
    table = t.campaigns
    kind = "campaign"

    def to_item(self, row: Any) -> Campaign:
        return Campaign(
            id=row.id, brand_id=row.brand_id, name=row.name, mode=row.mode, status=row.status,
            brief=msgspec.convert(row.brief, Brief), kit_message=row.kit_message, hashtags=list(row.hashtags),
            keywords=list(row.keywords), networks=list(row.networks), starts_at=row.starts_at, ends_at=row.ends_at,
            targets=msgspec.convert(row.targets, list[Target]), created_at=row.created_at, updated_at=row.updated_at,
        )

    async def create(self, data: CampaignCreate, metrics: Collection[str] | None = None) -> Campaign:
        """Create a campaign; 422 for a brand or tribes not the caller's, a period that ends first,
        or a target on a metric not among ``metrics`` (when given: those registered)."""
        await self.require_brand(data.brand_id)
        errors = _period_errors(data.starts_at, data.ends_at) + _target_errors(data.targets, metrics)
        errors += await self._tribe_errors(data.brand_id, data.brief.to_whom)
        if errors:
            raise ValidationFailed(errors)
        values = msgspec.to_builtins(data, builtin_types=(datetime,))
        campaign_id = await self._insert({"id": new_id("campaign"), **values})
        await self._link(campaign_id, data.brief.to_whom)
        return await self.get(campaign_id)

    async def update(self, campaign_id: str, data: CampaignUpdate, metrics: Collection[str] | None = None
                     ) -> Campaign:
        """Apply a partial update, checking the resulting period, brief and targets like a create."""
        current = await self.get(campaign_id)
        starts = current.starts_at if data.starts_at is msgspec.UNSET else data.starts_at
        ends = current.ends_at if data.ends_at is msgspec.UNSET else data.ends_at
        errors = _period_errors(starts, ends)
        if isinstance(data.targets, list):
            errors += _target_errors(data.targets, metrics)
        if isinstance(data.brief, Brief):
            errors += await self._tribe_errors(current.brand_id, data.brief.to_whom)
        if errors:
            raise ValidationFailed(errors)
        values = changes(data)
        if values.get("kit_message", current.kit_message) != current.kit_message:
            # Past posts, shares and mentions are measured against the new message, by the
            # brand's next run, shortly after; those whose measure changes are recounted.
            await mark_pending(self.conn, self.ws, [current.brand_id], kit=True)
        for field in ("starts_at", "ends_at"):
            if field in values:
                values[field] = getattr(data, field)
        if isinstance(data.brief, Brief):
            await self.conn.execute(sa.delete(t.campaign_tribes).where(
                t.campaign_tribes.c.campaign_id == campaign_id))
            await self._link(campaign_id, data.brief.to_whom)
        return await self._update(campaign_id, values)

    async def delete(self, campaign_id: str) -> None:
        """Delete the campaign. Its events stay, and its kit message goes: the brand's next run
        measures its copies against nothing (they stop counting for the megaphone index)."""
        current = await self._row(campaign_id)
        if current.kit_message:
            await mark_pending(self.conn, self.ws, [current.brand_id], kit=True)
        await super().delete(campaign_id)

    async def list_campaigns(self, *, limit: int, starting_after: str | None, brand_id: str | None,
                             tribe_id: str | None, status: str | None) -> Page[Campaign]:
        where: list[Any] = []
        if brand_id:
            where.append(t.campaigns.c.brand_id == brand_id)
        if status:
            where.append(t.campaigns.c.status == status)
        if tribe_id:
            where.append(t.campaigns.c.id.in_(sa.select(t.campaign_tribes.c.campaign_id).where(
                t.campaign_tribes.c.workspace_id == self.ws, t.campaign_tribes.c.tribe_id == tribe_id)))
        return await self.list(limit=limit, starting_after=starting_after, where=where)

    async def _tribe_errors(self, brand_id: str, tribe_ids: list[str]) -> list[FieldError]:
        if not tribe_ids:
            return []
        found = set((await self.conn.execute(sa.select(t.tribes.c.id).where(
            t.tribes.c.workspace_id == self.ws, t.tribes.c.brand_id == brand_id,
            t.tribes.c.id.in_(tribe_ids)))).scalars())
        errors, seen = [], set()
        for i, tribe_id in enumerate(tribe_ids):
            if tribe_id in seen:
                errors.append(FieldError(f"/brief/to_whom/{i}", "This tribe is listed twice."))
            elif tribe_id not in found:
                errors.append(FieldError(f"/brief/to_whom/{i}", f"No tribe {tribe_id!r} of brand {brand_id!r}."))
            seen.add(tribe_id)
        return errors

    async def _link(self, campaign_id: str, tribe_ids: list[str]) -> None:
        if tribe_ids:
            await self.conn.execute(sa.insert(t.campaign_tribes), [
                {"workspace_id": self.ws, "campaign_id": campaign_id, "tribe_id": tid, "position": i}
                for i, tid in enumerate(tribe_ids)])


def _target_errors(targets: list[Target], metrics: Collection[str] | None) -> list[FieldError]:
    """A target is on a registered metric (when ``metrics`` are given), and one per metric."""
    errors, seen = [], set()
    for i, target in enumerate(targets):
        if target.metric in seen:
            errors.append(FieldError(f"/targets/{i}/metric", f"Metric {target.metric!r} has a target already."))
        elif metrics is not None and target.metric not in metrics:
            errors.append(FieldError(f"/targets/{i}/metric", f"No metric {target.metric!r}; "
                                                             "GET /v1/metrics lists them."))
        seen.add(target.metric)
    return errors


def _period_errors(starts_at: datetime | None, ends_at: datetime | None) -> list[FieldError]:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        return [FieldError("/ends_at", "ends_at must be after starts_at.")]
    return []
