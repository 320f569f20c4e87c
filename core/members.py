"""Member identities: one row per (network, account id), the latest profile facts kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables as t
from .db import insert_for
from .ids import new_id
from .schemas.events import Actor

_PROFILE_FIELDS = tuple(f for f in Actor.__struct_fields__ if f not in ("id", "handle"))


def profile_of(actor: Actor) -> dict[str, Any]:
    """The profile facts the actor carries (unknown ones left out, so they do not erase known ones)."""
    facts = msgspec.to_builtins(actor)
    return {name: facts[name] for name in _PROFILE_FIELDS if facts.get(name) is not None}


async def resolve(conn: AsyncConnection, workspace_id: str, actors: Iterable[tuple[str, Actor]],
                  seen_at: datetime) -> dict[tuple[str, str], str]:
    """Member ids for (network, actor) pairs, creating members for new identities.

    Safe under concurrent batches: identities are inserted with ON CONFLICT DO NOTHING and
    read back, so two batches that meet the same new account agree on one member.
    """
    sightings: dict[tuple[str, str], tuple[str | None, dict[str, Any]]] = {}
    for network, actor in actors:  # later sightings win, fact by fact
        handle, facts = sightings.get((network, actor.id), (None, {}))
        sightings[(network, actor.id)] = (actor.handle or handle, {**facts, **profile_of(actor)})
    if not sightings:
        return {}
    found = await _lookup(conn, workspace_id, list(sightings))
    new = sorted(key for key in sightings if key not in found)  # one order everywhere: no deadlocks
    if new:
        rows = [{"workspace_id": workspace_id, "network": net, "external_id": ext, "member_id": new_id("member"),
                 "handle": sightings[(net, ext)][0], "profile": sightings[(net, ext)][1],
                 "first_seen_at": seen_at, "last_seen_at": seen_at} for net, ext in new]
        insert = insert_for(conn, t.member_identities).on_conflict_do_nothing()
        inserted = (await conn.execute(insert.returning(t.member_identities.c.member_id), rows)).scalars().all()
        if inserted:
            await conn.execute(sa.insert(t.members), [
                {"id": mid, "workspace_id": workspace_id, "merged_into": None, "created_at": seen_at,
                 "updated_at": seen_at} for mid in inserted])
        found.update(await _lookup(conn, workspace_id, new))
    await _refresh_profiles(conn, workspace_id, {k: v for k, v in sightings.items() if k not in new}, seen_at)
    return found


async def _lookup(conn: AsyncConnection, workspace_id: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    c = t.member_identities.c
    result: dict[tuple[str, str], str] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start:start + 400]
        query = sa.select(c.network, c.external_id, c.member_id).where(
            c.workspace_id == workspace_id, sa.tuple_(c.network, c.external_id).in_(chunk))
        result.update({(r.network, r.external_id): r.member_id for r in await conn.execute(query)})
    return result


async def _refresh_profiles(conn: AsyncConnection, workspace_id: str,
                            sightings: dict[tuple[str, str], tuple[str | None, dict[str, Any]]],
                            seen_at: datetime) -> None:
    """Known identities: facts the new sightings carry replace the stored ones; the rest are kept."""
    c = t.member_identities.c
    changed = {key: value for key, value in sightings.items() if value[0] or value[1]}
    if not changed:
        return
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    keys = list(changed)
    for start in range(0, len(keys), 400):
        query = sa.select(c.network, c.external_id, c.profile).where(
            c.workspace_id == workspace_id, sa.tuple_(c.network, c.external_id).in_(keys[start:start + 400]))
        stored.update({(r.network, r.external_id): r.profile or {} for r in await conn.execute(query)})
    statement = sa.update(t.member_identities).where(
        c.workspace_id == sa.bindparam("w"), c.network == sa.bindparam("n"), c.external_id == sa.bindparam("e")
    ).values(handle=sa.func.coalesce(sa.bindparam("h"), c.handle), profile=sa.bindparam("p"), last_seen_at=seen_at)
    await conn.execute(statement, [{"w": workspace_id, "n": net, "e": ext, "h": handle,
                                    "p": {**stored.get((net, ext), {}), **facts}}
                                   for (net, ext), (handle, facts) in sorted(changed.items())])
