"""Member identities: one row per (network, account id), the latest profile facts kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from . import bulk
from .db import advisory_locks
from .ids import new_ids
from .schemas.events import Actor

_PROFILE_FIELDS = tuple(f for f in Actor.__struct_fields__ if f not in ("id", "handle"))


def profile_of(actor: Actor) -> dict[str, Any]:
    """The profile facts the actor carries (unknown ones left out, so they do not erase known ones)."""
    facts = {name: value for name in _PROFILE_FIELDS if (value := getattr(actor, name)) is not None}
    if "created_at" in facts:  # the one fact that is not already JSON
        facts["created_at"] = msgspec.to_builtins(facts["created_at"])
    return facts


MEMBERS_GATE = 7303  # advisory lock class of a workspace's members (7301, 7302: aggregation)


async def members_gate(conn: AsyncConnection, workspace_id: str, shared: bool) -> None:
    """The workspace's gate between batches being stored and merges (PostgreSQL only).

    A batch being stored holds it shared from before it checks its members (:func:`current`)
    until it commits; a merge holds it exclusively. So a merge either commits before the batch checks
    its members (the batch then uses the survivor) or waits for the batch's events and moves
    them too, whichever brand they are in. Taken before any brand's gate. SQLite has one
    writer at a time: nothing to do there.
    """
    await advisory_locks(conn, MEMBERS_GATE, [workspace_id], shared)


IDENTITY_COLUMNS = ("workspace_id", "network", "external_id", "member_id", "handle", "profile", "first_seen_at",
                    "last_seen_at")


async def lookup(conn: AsyncConnection, workspace_id: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(network, id) → member id, for the identities already stored."""
    return {key: row[0] for key, row in (await _lookup(conn, workspace_id, keys)).items()}


# (network, account id) -> (latest handle, latest profile facts)
Sightings = dict[tuple[str, str], tuple[str | None, dict[str, Any]]]


def sightings(actors: Iterable[tuple[str, Actor]]) -> Sightings:
    """What (network, actor) pairs say about each account: later sightings win, fact by fact."""
    seen: Sightings = {}
    for network, actor in actors:
        handle, facts = seen.get((network, actor.id), (None, {}))
        seen[(network, actor.id)] = (actor.handle or handle, {**facts, **profile_of(actor)})
    return seen


async def resolve(conn: AsyncConnection, workspace_id: str, sightings: Sightings,
                  seen_at: datetime) -> dict[tuple[str, str], str]:
    """Member ids for the accounts of :func:`sightings`, creating members for new identities.

    Safe under concurrent batches: identities are inserted with ON CONFLICT DO NOTHING and
    read back, so two batches that meet the same new account agree on one member. (On SQLite,
    whose one writer holds its lock for the whole transaction, :func:`record` does the writing.)
    """
    if not sightings:
        return {}
    keys = sorted(sightings)  # one order everywhere: no deadlocks between concurrent batches
    if conn.dialect.name == "sqlite":
        await record(conn, workspace_id, sightings, seen_at)
        return await lookup(conn, workspace_id, keys)
    stored = await _lookup(conn, workspace_id, keys)
    new = [key for key in keys if key not in stored]
    found = {key: row[0] for key, row in stored.items()}
    if new:
        rows = [(workspace_id, net, ext, member_id, sightings[(net, ext)][0], sightings[(net, ext)][1],
                 seen_at, seen_at) for (net, ext), member_id in zip(new, new_ids("member", len(new)))]
        inserted = await bulk.insert(conn, "member_identities", IDENTITY_COLUMNS, rows,
                                     conflict=("workspace_id", "network", "external_id"),
                                     returning=("network", "external_id", "member_id"))
        await bulk.insert(conn, "members", ("id", "workspace_id", "merged_into", "created_at", "updated_at"),
                          [(mid, workspace_id, None, seen_at, seen_at) for _, _, mid in inserted])
        found.update({(net, ext): mid for net, ext, mid in inserted})
        raced = [key for key in new if key not in found]  # another batch created them meanwhile
        if raced:
            found.update({key: row[0] for key, row in (await _lookup(conn, workspace_id, raced)).items()})
    await _refresh_profiles(conn, workspace_id, sightings, stored, seen_at)
    return found


def sightings_rows(sightings: Sightings) -> tuple[str, tuple[Any, ...]]:
    """The sightings as a SQLite ``VALUES`` list of ``(network, id, handle, facts, candidate
    member id)`` and its parameters, in key order, for :func:`record` (made ahead, outside the
    write transaction)."""
    keys = sorted(sightings)
    return bulk.sqlite_values([(net, ext, *sightings[(net, ext)], mid)
                               for (net, ext), mid in zip(keys, new_ids("member", len(keys)))])


# SQLite: what resolve() does, worked out by the database in one statement over the sightings
# (``s``: network, id, handle, facts, candidate member id). New accounts get their candidate
# member id, and their member row from the trigger of migration 0007; known ones keep theirs,
# and have their handle and facts merged (json_patch: the facts sighted replace the stored
# ones, the rest are kept), written only where something changed.
_SIGHTED = "FROM (VALUES {rows}) s"
_HANDLE = "coalesce(nullif(excluded.handle, ''), member_identities.handle)"
_FACTS = "json_patch(member_identities.profile, excluded.profile)"
_IDENTITIES = (f"INSERT INTO member_identities ({', '.join(IDENTITY_COLUMNS)}) "
               f"SELECT ?1, s.column1, s.column2, s.column5, s.column3, s.column4, ?2, ?2 {_SIGHTED} WHERE true "
               f"ON CONFLICT (workspace_id, network, external_id) DO UPDATE SET handle = {_HANDLE}, "
               f"profile = {_FACTS}, last_seen_at = excluded.last_seen_at "
               f"WHERE {_HANDLE} IS NOT member_identities.handle OR {_FACTS} IS NOT member_identities.profile")


async def record(conn: AsyncConnection, workspace_id: str, sightings: Sightings, seen_at: datetime) -> None:
    """Store the accounts sighted (SQLite): new ones as members, known ones' latest handle and facts."""
    keys = sorted(sightings)
    per = bulk.MAX_PARAMS // 5
    for start in range(0, len(keys), per):
        rows = sightings_rows({k: sightings[k] for k in keys[start:start + per]})
        await bulk.execute(conn, *record_statement(workspace_id, rows, seen_at))


def record_statement(workspace_id: str, sightings: tuple[str, tuple[Any, ...]], seen_at: datetime
                     ) -> tuple[str, tuple[Any, ...]]:
    """What :func:`record` runs for :func:`sightings_rows`: the identities (and with them, the
    members of new ones)."""
    rows, values = sightings
    params = (workspace_id, bulk.sqlite_time(seen_at), *values)  # ?1, ?2, then the rows' values
    return _IDENTITIES.format(rows=rows), params


async def current(conn: AsyncConnection, workspace_id: str, found: dict[tuple[str, str], str]
                  ) -> dict[tuple[str, str], str]:
    """``found`` (from :func:`resolve`, in an earlier transaction) with members merged away since
    then replaced by the member their identities now belong to."""
    ids = sorted(set(found.values()))
    if conn.dialect.name == "postgresql":  # one probe of the primary key per member (see _lookup)
        result = await conn.exec_driver_sql(
            "SELECT k.id FROM unnest(CAST($2 AS TEXT[])) AS k(id) CROSS JOIN LATERAL "
            "(SELECT 1 FROM members WHERE id = k.id AND workspace_id = $1 AND merged_into IS NOT NULL LIMIT 1) m",
            (workspace_id, ids))
        merged = {row[0] for row in result.fetchall()}
    else:
        merged = {row[0] for row in await bulk.select_in(
            conn, "SELECT id FROM members WHERE workspace_id = {} AND merged_into IS NOT NULL AND id IN {}",
            (workspace_id,), ids)}
    if not merged:
        return found
    moved = await _lookup(conn, workspace_id, sorted(key for key, member in found.items() if member in merged))
    return {**found, **{key: row[0] for key, row in moved.items()}}


async def _lookup(conn: AsyncConnection, workspace_id: str, keys: list[tuple[str, str]]
                  ) -> dict[tuple[str, str], tuple[str, str | None, dict[str, Any]]]:
    """(network, id) → (member id, handle, profile) for the identities already stored.

    On PostgreSQL, one statement that probes the primary key once per key. Plain ``IN`` lists
    (or a join) are planned from the table's statistics, and while a fresh table has none
    (autovacuum analyses it within a minute or so) the planner takes ``workspace_id`` and
    ``network`` alone for a selective prefix and reads the network's every identity per
    lookup. ``LIMIT 1`` in the lateral subquery keeps it from being flattened into such a join.
    On SQLite, one statement: per network, ``network = ? AND external_id IN (...)`` (which walks
    the primary key), the parts joined by UNION ALL. Profiles come as text, decoded here.
    """
    result: dict[tuple[str, str], tuple[str, str | None, dict[str, Any]]] = {}
    if not keys:
        return result
    if conn.dialect.name == "postgresql":
        networks, ids = zip(*keys)
        rows = (await conn.exec_driver_sql(
            "SELECT k.network, k.external_id, m.member_id, m.handle, CAST(m.profile AS TEXT) "
            "FROM unnest(CAST($2 AS TEXT[]), CAST($3 AS TEXT[])) AS k(network, external_id) CROSS JOIN LATERAL "
            "(SELECT member_id, handle, profile FROM member_identities WHERE workspace_id = $1 "
            "AND network = k.network AND external_id = k.external_id LIMIT 1) m",
            (workspace_id, list(networks), list(ids)))).fetchall()
        for network, external_id, member_id, handle, profile in rows:
            result[(network, external_id)] = (member_id, handle, bulk.json_value(profile) or {})
        return result
    # On SQLite the rows come back as one JSON array, in one value: the driver's thread hands
    # over each row separately, and each hand-over waits its turn for the interpreter.
    # A statement per IN_CHUNK keys keeps it well under SQLite's bound on parameters.
    for start in range(0, len(keys), bulk.IN_CHUNK):
        by_network: dict[str, list[str]] = {}
        for network, external_id in keys[start:start + bulk.IN_CHUNK]:
            by_network.setdefault(network, []).append(external_id)
        parts = ["SELECT network, external_id, member_id, handle, profile FROM member_identities "
                 f"WHERE workspace_id = ? AND network = ? AND external_id IN ({', '.join('?' * len(ids_of))})"
                 for ids_of in by_network.values()]
        params = [value for network, ids_of in by_network.items() for value in (workspace_id, network, *ids_of)]
        [(found,)] = await bulk.execute(
            conn, "SELECT json_group_array(json_array(network, external_id, member_id, handle, json(profile))) "
                  f"FROM ({' UNION ALL '.join(parts)})", params)
        for network, external_id, member_id, handle, profile in bulk.json_value(found):
            result[(network, external_id)] = (member_id, handle, profile or {})
    return result


async def _refresh_profiles(conn: AsyncConnection, workspace_id: str, sightings: Sightings,
                            stored: dict[tuple[str, str], tuple[str, str | None, dict[str, Any]]],
                            seen_at: datetime) -> None:
    """Known identities: facts the new sightings carry replace the stored ones; the rest are kept.

    Only identities whose handle or facts actually changed are written.
    """
    changes = []
    for key, (_, old_handle, old_facts) in sorted(stored.items()):
        handle, facts = sightings[key]
        merged = {**old_facts, **facts}
        if merged != old_facts or (handle and handle != old_handle):
            changes.append((handle or old_handle, merged, seen_at, workspace_id, *key))
    await bulk.update(conn, "member_identities", ("handle", "profile", "last_seen_at"),
                      ("workspace_id", "network", "external_id"), changes)
