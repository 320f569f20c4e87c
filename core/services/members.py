"""Members: listing across brands, tribes and networks; merging identities of one person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa

from .. import tables as t
from ..aggregate import restating
from ..errors import FieldError, NotFound, ValidationFailed
from ..members import members_gate
from ..pagination import paginate
from ..schemas.common import Page
from ..schemas.members import Activity, Identity, Member, TribeMembership
from .context import Service, utcnow

M, I, E, TM = t.members.c, t.member_identities.c, t.events.c, t.tribe_members.c
# The brand of a member's events, as an expression: SQLite, with no statistics, would rather
# walk the workspace's events in brand order (its brand index yields DISTINCT brands sorted)
# than look the member's up by their own index.
_brand_of_event = (E.brand_id + "").label("brand_id")


class MemberService(Service):
    async def list(self, *, limit: int, starting_after: str | None, brand_id: str | None, tribe_id: str | None,
                   network: str | None) -> Page[Member]:
        """Members (not merged away), newest first, narrowed by brand, tribe or network."""
        query = sa.select(t.members).where(M.workspace_id == self.ws, M.merged_into.is_(None))
        if brand_id:
            query = query.where(sa.exists().where(E.workspace_id == self.ws, E.member_id == M.id,
                                                  E.brand_id == brand_id))
        if tribe_id:
            query = query.where(sa.exists().where(TM.workspace_id == self.ws, TM.tribe_id == tribe_id,
                                                  TM.member_id == M.id, TM.source != "excluded"))
        if network:
            query = query.where(sa.exists().where(I.workspace_id == self.ws, I.member_id == M.id,
                                                  I.network == network))
        page = await paginate(self.conn, query, M.id, secret=self.caller.cursor_secret, limit=limit,
                              starting_after=starting_after, to_item=lambda row: row)
        return Page(data=await self._members(page.data), has_more=page.has_more, next_cursor=page.next_cursor)

    async def get(self, member_id: str) -> Member:
        """The member with identities, tribes and an activity summary."""
        row = (await self.conn.execute(sa.select(t.members).where(M.workspace_id == self.ws, M.id == member_id))).first()
        if row is None:
            raise NotFound("member", member_id)
        (member,) = await self._members([row])
        member.activity = await self._activity(member_id)
        return member

    async def _members(self, rows: list[Any]) -> list[Member]:
        ids = [r.id for r in rows]
        identities: dict[str, list[Identity]] = {i: [] for i in ids}
        tribes: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            for r in await self.conn.execute(sa.select(t.member_identities).where(
                    I.workspace_id == self.ws, I.member_id.in_(ids)).order_by(I.first_seen_at)):
                identities[r.member_id].append(Identity(network=r.network, external_id=r.external_id, handle=r.handle,
                                                        profile=dict(r.profile or {}), first_seen_at=r.first_seen_at,
                                                        last_seen_at=r.last_seen_at))
            for r in await self.conn.execute(sa.select(TM.member_id, TM.tribe_id).where(
                    TM.workspace_id == self.ws, TM.member_id.in_(ids), TM.source != "excluded")):
                tribes[r.member_id].append(r.tribe_id)
        return [Member(id=r.id, merged_into=r.merged_into, identities=identities[r.id], tribe_ids=sorted(tribes[r.id]),
                       created_at=r.created_at) for r in rows]

    async def _activity(self, member_id: str) -> Activity:
        scoped = (E.workspace_id == self.ws, E.member_id == member_id)
        by_kind = {r.kind: int(r.n) for r in await self.conn.execute(
            sa.select(E.kind, sa.func.count().label("n")).where(*scoped).group_by(E.kind))}
        span = (await self.conn.execute(sa.select(sa.func.min(E.occurred_at), sa.func.max(E.occurred_at))
                                        .where(*scoped))).one()
        brands = (await self.conn.execute(sa.select(_brand_of_event).where(*scoped).distinct())).scalars().all()
        first, last = span  # min/max keep the column's type, so these come back as aware datetimes
        return Activity(events=sum(by_kind.values()), first_at=first, last_at=last, by_kind=by_kind,
                        brand_ids=sorted(brands))

    async def merge(self, member_id: str, other_id: str) -> Member:
        """Move ``other_id``'s identities, events and tribes onto ``member_id``."""
        if member_id == other_id:
            raise ValidationFailed([FieldError("/member_id", "A member cannot be merged into itself.")])
        # Batches in flight first (their events may be on either member, in any brand), then the
        # brands' gates (in restating): the lock order of ingest.
        await members_gate(self.conn, self.ws, shared=False)
        target = await self.get(member_id)
        if target.merged_into:
            raise ValidationFailed([FieldError("/member_id", f"{member_id} was itself merged away.")])
        other = (await self.conn.execute(sa.select(t.members).where(M.workspace_id == self.ws,
                                                                    M.id == other_id))).first()
        if other is None or other.merged_into:
            raise ValidationFailed([FieldError("/member_id", f"No member {other_id!r} to merge in this workspace.")])
        # Their events in every brand now belong to one member, in the tribes of both, and
        # replies between the two are no longer between members: restated.
        async with self._restating(members=(member_id, other_id)):
            ws_other = (I.workspace_id == self.ws, I.member_id == other_id)
            await self.conn.execute(sa.update(t.member_identities).where(*ws_other).values(member_id=member_id))
            await self.conn.execute(sa.update(t.events).where(E.workspace_id == self.ws, E.member_id == other_id)
                                    .values(member_id=member_id))
            await self._merge_memberships(member_id, other_id)
            await self.conn.execute(sa.update(t.members).where(M.id == other_id)
                                    .values(merged_into=member_id, updated_at=utcnow()))
        return await self.get(member_id)

    async def _merge_memberships(self, member_id: str, other_id: str) -> None:
        """Give ``member_id`` ``other_id``'s tribes. In a tribe both are in, the one person's
        membership is, whichever of the two survives: the later of their decisions by hand
        (added or taken out), else the earlier match of the tribe's rules (it counts events from
        then on, and this person was matched then)."""
        rows = (await self.conn.execute(sa.select(TM.tribe_id, TM.member_id, TM.source, TM.created_at).where(
            TM.workspace_id == self.ws, TM.member_id.in_((member_id, other_id))))).all()
        by_tribe: dict[str, list[Any]] = {}
        for row in rows:
            by_tribe.setdefault(row.tribe_id, []).append(row)
        for tribe_id, both in by_tribe.items():
            if len(both) < 2:
                continue
            by_hand = [r for r in both if r.source != "rule"]
            kept = max(by_hand, key=lambda r: r.created_at) if by_hand else min(both, key=lambda r: r.created_at)
            await self.conn.execute(sa.update(t.tribe_members).where(TM.tribe_id == tribe_id,
                                                                     TM.member_id == member_id)
                                    .values(source=kept.source, created_at=kept.created_at))
            await self.conn.execute(sa.delete(t.tribe_members).where(TM.tribe_id == tribe_id,
                                                                     TM.member_id == other_id))
        await self.conn.execute(sa.update(t.tribe_members).where(TM.workspace_id == self.ws, TM.member_id == other_id)
                                .values(member_id=member_id))

    async def add_to_tribe(self, tribe_id: str, member_id: str) -> TribeMembership:
        """Put a member in a tribe by hand (this also lifts an earlier exclusion)."""
        await self._require(t.tribes, tribe_id, "tribe")
        row = (await self.conn.execute(sa.select(t.members).where(M.workspace_id == self.ws, M.id == member_id))).first()
        if row is None or row.merged_into:
            raise ValidationFailed([FieldError("/member_id", f"No member {member_id!r} in this workspace.")])
        now = utcnow()
        async with self._restating(tribe_id=tribe_id, member_id=member_id):
            await self.conn.execute(sa.delete(t.tribe_members).where(TM.tribe_id == tribe_id,
                                                                     TM.member_id == member_id))
            await self.conn.execute(sa.insert(t.tribe_members).values(
                workspace_id=self.ws, tribe_id=tribe_id, member_id=member_id, source="manual", created_at=now))
        return TribeMembership(tribe_id=tribe_id, member_id=member_id, source="manual", created_at=now)

    async def remove_from_tribe(self, tribe_id: str, member_id: str) -> None:
        """Take a member out of a tribe; its rules will not add them back."""
        await self._require(t.tribes, tribe_id, "tribe")
        found = (await self.conn.execute(sa.select(TM.source).where(
            TM.workspace_id == self.ws, TM.tribe_id == tribe_id, TM.member_id == member_id))).scalar()
        if found is None or found == "excluded":
            raise NotFound("tribe member", member_id)
        async with self._restating(tribe_id=tribe_id, member_id=member_id):
            await self.conn.execute(sa.update(t.tribe_members).where(TM.tribe_id == tribe_id,
                                                                     TM.member_id == member_id)
                                    .values(source="excluded", created_at=utcnow()))

    @asynccontextmanager
    async def _restating(self, *, members: tuple[str, ...] = (), tribe_id: str | None = None,
                         member_id: str | None = None) -> AsyncIterator[None]:
        """Restate, around the change, the past events that change hands or tribes: in the brands
        these members have events in, all of theirs; in the tribe's brand, those of the member
        that its tribes decide (no tribe of their own). See :func:`~tribeops.core.aggregate.restating`."""
        if tribe_id is not None:
            query = sa.select(t.tribes.c.brand_id).where(t.tribes.c.id == tribe_id)
            events, params = "e.workspace_id = :w AND e.member_id = :m0 AND e.tribe_id IS NULL", {"m0": member_id}
        else:
            query = sa.select(_brand_of_event).distinct().where(E.workspace_id == self.ws, E.member_id.in_(members))
            events = f"e.workspace_id = :w AND e.member_id IN ({', '.join(f':m{i}' for i in range(len(members)))})"
            params = {f"m{i}": m for i, m in enumerate(members)}
        brands = list((await self.conn.execute(query)).scalars())
        async with restating(self.conn, self.ws, brands, events, params):
            yield

    async def _require(self, table: sa.Table, object_id: str, kind: str) -> None:
        found = (await self.conn.execute(sa.select(table.c.id).where(table.c.workspace_id == self.ws,
                                                                     table.c.id == object_id))).first()
        if found is None:
            raise NotFound(kind, object_id)
