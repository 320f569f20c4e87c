"""Member identities: one row per (network, account id), the latest profile facts kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import tables as t
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
    latest: dict[tuple[str, str], Actor] = {}
    for network, actor in actors:
        latest[(network, actor.id)] = actor
    if not latest:
        return {}
    found = await _lookup(conn, workspace_id, latest)
    new = sorted(key for key in latest if key not in found)  # one order everywhere: no deadlocks
    if new:
        rows = [{"workspace_id": workspace_id, "network": net, "external_id": ext, "member_id": new_id("member"),
                 "handle": latest[(net, ext)].handle, "profile": profile_of(latest[(net, ext)]),
                 "first_seen_at": seen_at, "last_seen_at": seen_at} for net, ext in new]
        insert = _dialect_insert(conn, t.member_identities).on_conflict_do_nothing()
        inserted = (await conn.execute(insert.returning(t.member_identities.c.member_id), rows)).scalars().all()
        if inserted:
            await conn.execute(sa.insert(t.members), [
                {"id": mid, "workspace_id": workspace_id, "merged_into": None, "created_at": seen_at,
                 "updated_at": seen_at} for mid in inserted])
        found.update(await _lookup(conn, workspace_id, {key: latest[key] for key in new}))
    await _refresh_profiles(conn, workspace_id, latest, found, seen_at)
    return found


async def _lookup(conn: AsyncConnection, workspace_id: str, keys: dict[tuple[str, str], Actor]
                  ) -> dict[tuple[str, str], str]:
    c = t.member_identities.c
    result: dict[tuple[str, str], str] = {}
    pairs = list(keys)
    for start in range(0, len(pairs), 400):
        chunk = pairs[start:start + 400]
        query = sa.select(c.network, c.external_id, c.member_id).where(
            c.workspace_id == workspace_id, sa.tuple_(c.network, c.external_id).in_(chunk))
        result.update({(r.network, r.external_id): r.member_id for r in await conn.execute(query)})
    return result


async def _refresh_profiles(conn: AsyncConnection, workspace_id: str, latest: dict[tuple[str, str], Actor],
                            found: dict[tuple[str, str], str], seen_at: datetime) -> None:
    c = t.member_identities.c
    updates = [{"w": workspace_id, "n": net, "e": ext, "handle": actor.handle, "profile": profile_of(actor)}
               for (net, ext), actor in latest.items() if profile_of(actor) or actor.handle]
    if not updates:
        return
    # Facts the new sighting carries replace the stored ones; facts it lacks are kept.
    stored = {}
    query = sa.select(c.network, c.external_id, c.profile).where(
        c.workspace_id == workspace_id, sa.tuple_(c.network, c.external_id).in_([(u["n"], u["e"]) for u in updates]))
    for row in await conn.execute(query):
        stored[(row.network, row.external_id)] = row.profile or {}
    statement = sa.update(t.member_identities).where(
        c.workspace_id == sa.bindparam("w"), c.network == sa.bindparam("n"), c.external_id == sa.bindparam("e")
    ).values(handle=sa.func.coalesce(sa.bindparam("handle"), c.handle), profile=sa.bindparam("profile"),
             last_seen_at=seen_at)
    for update in updates:
        update["profile"] = {**stored.get((update["n"], update["e"]), {}), **update["profile"]}
    await conn.execute(statement, updates)


def _dialect_insert(conn: AsyncConnection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
