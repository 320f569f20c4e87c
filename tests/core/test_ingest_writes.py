"""Members resolved ahead of their batch's transaction still land on the right person; a batch
whose write the database undid is written again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tribeops.core import bulk, ingest
from tribeops.core.ingest import ingest_batch
from tribeops.core.members import current, resolve, sightings
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.brands import BrandCreate
from tribeops.core.schemas.events import Actor
from tribeops.core.schemas.tribes import TribeCreate, TribeRules
from tribeops.core.services.brands import BrandService
from tribeops.core.services.context import utcnow
from tribeops.core.services.members import MemberService
from tribeops.core.services.tribes import TribeService
from tribeops.core.services.workspaces import ensure_workspace
from tribeops.testing.events import EventBuilder

from ..scenarios import pause_first_call, run_scenario, workspace_with_brand


def test_a_member_merged_away_after_resolving_is_replaced_by_the_survivor(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        async with runtime.db.transaction() as conn:
            caller = await ensure_workspace(conn, f"resolve-{uuid.uuid4().hex[:8]}")
            ws = caller.workspace_id
            found = await resolve(conn, ws, sightings([("x", Actor(id="1", handle="anna")),
                                                       ("instagram", Actor(id="9", handle="anna.ig")),
                                                       ("x", Actor(id="2", handle="bob"))]), utcnow())
        anna_x, anna_ig, bob = found[("x", "1")], found[("instagram", "9")], found[("x", "2")]
        async with runtime.db.transaction() as conn:
            assert await current(conn, ws, found) == found  # nothing merged: the same mapping
            await MemberService(conn, caller).merge(anna_x, anna_ig)
        async with runtime.db.reading() as conn:
            now = await current(conn, ws, found)
        assert now == {("x", "1"): anna_x, ("instagram", "9"): anna_x, ("x", "2"): bob}

    run_scenario(database_url, scenario)


def test_a_merge_waits_for_a_batch_whose_members_it_moves_even_in_a_brand_they_had_no_events_in(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch checked its members and is storing events of a brand where neither member had
    any yet; a merge of those members must not slip in between and leave the new event on the
    member merged away."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: a merge waits for any batch being stored there")

    async def scenario(runtime: Runtime) -> None:
        async with runtime.db.transaction() as conn:
            caller = await ensure_workspace(conn, f"resolve-{uuid.uuid4().hex[:8]}")
            ws = caller.workspace_id
            brand = (await BrandService(conn, caller).create(BrandCreate(name="Acme"))).id
            found = await resolve(conn, ws, sightings([("x", Actor(id="1", handle="anna")),
                                                       ("instagram", Actor(id="9", handle="anna.ig"))]), utcnow())
        keep, away = found[("x", "1")], found[("instagram", "9")]
        # The batch has its members checked (current) and waits before its tribes and events.
        reached, go_on = pause_first_call(monkeypatch, ingest, "join", ws)
        ev = EventBuilder(brand)
        item = ev.like(actor={"id": "9", "handle": "anna.ig"}, network="instagram")
        batch = asyncio.create_task(ingest_batch(runtime.db, runtime.registry, caller, [item]))
        await asyncio.wait_for(reached.wait(), timeout=10)

        async def merge() -> None:
            async with runtime.db.transaction() as conn:
                await MemberService(conn, caller).merge(keep, away)

        merging = asyncio.create_task(merge())
        await asyncio.sleep(0.5)
        assert not merging.done()  # it waits for the batch...
        go_on.set()
        assert (await asyncio.wait_for(batch, timeout=10)).result.accepted == 1
        await asyncio.wait_for(merging, timeout=10)
        async with runtime.db.reading() as conn:  # ...and then moves its event too
            stored = (await conn.execute(sa.text("SELECT member_id FROM events WHERE brand_id = :b"),
                                         {"b": brand})).scalars().all()
        assert stored == [keep]

    run_scenario(database_url, scenario)


def test_known_identities_are_found_per_network_and_keep_their_latest_facts(database_url: str) -> None:
    """The same account id on two networks is two identities; seen again, each is found (not
    created twice) and takes the facts its new sighting carries, keeping the others."""
    async def scenario(runtime: Runtime) -> None:
        async with runtime.db.transaction() as conn:
            caller = await ensure_workspace(conn, f"resolve-{uuid.uuid4().hex[:8]}")
            ws = caller.workspace_id
            first = await resolve(conn, ws, sightings([("x", Actor(id="7", handle="anna", followers=10)),
                                                       ("instagram", Actor(id="7", handle="anna.ig"))]), utcnow())
        assert len(set(first.values())) == 2
        async with runtime.db.transaction() as conn:
            again = await resolve(conn, ws, sightings([("instagram", Actor(id="7", followers=99)),
                                                       ("x", Actor(id="7", handle="anna", following=3)),
                                                       ("x", Actor(id="8", handle="bob"))]), utcnow())
        assert {k: again[k] for k in first} == first and again[("x", "8")] not in first.values()
        async with runtime.db.reading() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT network, external_id, handle, profile FROM member_identities WHERE workspace_id = :w "
                "ORDER BY network, external_id"), {"w": ws})).all()
        assert [(r.network, r.external_id, r.handle, bulk.json_value(r.profile)) for r in rows] == [
            ("instagram", "7", "anna.ig", {"followers": 99}),
            ("x", "7", "anna", {"followers": 10, "following": 3}),
            ("x", "8", "bob", {})]

    run_scenario(database_url, scenario)


def test_events_of_accounts_met_by_concurrent_batches_belong_to_one_member(database_url: str) -> None:
    """Batches that all meet the same new accounts, sent at once: one member per account, and
    every event stored once, on that member."""
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        ev = EventBuilder(brand)
        batches = [[ev.like(actor=f"fan{j}", id=f"b{i}-{j}") for j in range(40)] for i in range(6)]
        results = await asyncio.gather(*(ingest_batch(runtime.db, runtime.registry, caller, b) for b in batches))
        assert [r.result.accepted for r in results] == [40] * 6
        async with runtime.db.reading() as conn:
            per_actor = (await conn.execute(sa.text(
                "SELECT actor_id, COUNT(DISTINCT member_id), COUNT(*) FROM events WHERE brand_id = :b "
                "GROUP BY actor_id"), {"b": brand})).all()
            identities = (await conn.execute(sa.text(
                "SELECT COUNT(*), COUNT(DISTINCT member_id) FROM member_identities WHERE workspace_id = :w"),
                {"w": caller.workspace_id})).one()
        assert len(per_actor) == 40 and {(n, m) for _, n, m in per_actor} == {(1, 6)}
        assert tuple(identities) == (40, 40)

    run_scenario(database_url, scenario)


class _Undone(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


Batches = list[tuple[Any, Any]]


def wrap_writes(monkeypatch: pytest.MonkeyPatch, runtime: Runtime, before: Callable[[Batches], None] = lambda b: None,
                after: Callable[[Batches], None] = lambda b: None) -> None:
    """Call ``before(batches)`` ahead of each write of prepared batches and ``after(batches)``
    once it is done, inside its transaction: around ``store`` on PostgreSQL, around
    ``written_all`` on SQLite (where it runs in the driver's thread)."""
    if runtime.db.dialect == "sqlite":
        real = ingest.written_all

        def written_all(run: Any, batches: Batches) -> Any:
            before(batches)
            out = real(run, batches)
            after(batches)
            return out

        monkeypatch.setattr(ingest, "written_all", written_all)
        return
    real_store = ingest.store

    async def store(conn: Any, caller: Any, prepared: Any) -> Any:
        before([(caller, prepared)])
        out = await real_store(conn, caller, prepared)
        after([(caller, prepared)])
        return out

    monkeypatch.setattr(ingest, "store", store)


async def waiting_for_writer(runtime: Runtime, n: int) -> None:
    """Until ``n`` batches wait for SQLite's writer."""
    writer = None
    for _ in range(1000):
        writer = ingest._WRITERS.get(runtime.db, {}).get(asyncio.get_running_loop())
        if writer is not None and len(writer.waiting) == n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(writer.waiting) if writer else 0} batches wait for the writer, not {n}")


def test_a_write_the_database_undid_is_run_again_and_stores_each_event_once(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        calls: list[str] = []

        def undone_once(batches: Batches) -> None:  # the first attempt is a deadlock victim, after its inserts
            if len(calls) == 1:
                raise DBAPIError("INSERT", None, _Undone("40P01"))

        caller, brand = await workspace_with_brand(runtime)
        wrap_writes(monkeypatch, runtime, before=lambda b: calls.append("store"), after=undone_once)
        ev = EventBuilder(brand)
        batch = await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="a"), ev.like(actor="b")])
        assert (batch.result.accepted, batch.result.duplicates, len(calls)) == (2, 0, 2)
        async with runtime.db.reading() as conn:
            stored = (await conn.execute(sa.text("SELECT COUNT(*) FROM events WHERE brand_id = :b"),
                                         {"b": brand})).scalar()
        assert stored == 2
        # Anything else is not retried: it reaches the caller at once.
        calls.clear()

        def broken(batches: Batches) -> None:
            calls.append("store")
            raise DBAPIError("INSERT", None, _Undone("23505"))

        wrap_writes(monkeypatch, runtime, before=broken)
        with pytest.raises(DBAPIError):
            await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="c")])
        assert calls == ["store"]

    run_scenario(database_url, scenario)


def test_batches_sent_at_once_store_each_event_once_and_a_failing_one_fails_alone(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches that arrive together (on SQLite, written in one transaction): an id in several
    is stored once and counted a duplicate by the others; a batch whose write fails takes
    none of its neighbours down."""
    async def scenario(runtime: Runtime) -> None:
        def failing(batches: Batches) -> None:
            if any(e.id == "boom" for _, prepared in batches for e in prepared.events):
                raise RuntimeError("disk on fire")

        wrap_writes(monkeypatch, runtime, before=failing)
        caller, brand = await workspace_with_brand(runtime)
        ev = EventBuilder(brand)
        batches = [[ev.like(actor=f"fan{j}", id=f"e{j}") for j in range(i * 10, i * 10 + 30)] for i in range(5)]
        batches.insert(3, [ev.like(actor="x", id="boom"), ev.like(actor="y", id="innocent-bystander")])
        sent = asyncio.gather(*(ingest_batch(runtime.db, runtime.registry, caller, b) for b in batches),
                              return_exceptions=True)
        if runtime.db.dialect == "sqlite":  # the writer held until all six wait: they go in one transaction
            async with runtime.db.writing():
                await waiting_for_writer(runtime, len(batches))
        results = await sent
        assert isinstance(results[3], RuntimeError)
        batches_ok = [r for i, r in enumerate(results) if i != 3]
        assert all(r.result.accepted + r.result.duplicates == 30 for r in batches_ok)  # type: ignore[union-attr]
        assert sum(r.result.accepted for r in batches_ok) == 70  # type: ignore[union-attr]
        async with runtime.db.reading() as conn:
            ids = (await conn.execute(sa.text("SELECT id FROM events WHERE brand_id = :b"), {"b": brand})).scalars()
            stored = sorted(ids)
        assert stored == sorted(f"e{j}" for j in range(70))

    run_scenario(database_url, scenario)


def test_a_batch_joining_more_members_to_tribes_than_one_statement_carries_joins_them_all(database_url: str) -> None:
    """1,000 new members whose posts match the rules of 11 tribes: 11,000 memberships (33,000
    values: more than SQLite's default limit of bound parameters in one statement); each joined
    once, by rule, and none twice when the batch comes again."""
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        async with runtime.db.transaction() as conn:
            tribes = TribeService(conn, caller)
            for i in range(11):
                await tribes.create(TribeCreate(brand_id=brand, name=f"Tribe {i}", rules=TribeRules(hashtags=["brew"])))
        ev = EventBuilder(brand)
        batch = [ev.post(actor=f"fan{i}", post_id=f"p{i}", text="My #brew") for i in range(1000)]
        for _ in range(2):
            await ingest_batch(runtime.db, runtime.registry, caller, batch)
        async with runtime.db.reading() as conn:
            rows = (await conn.execute(sa.text(
                "SELECT tm.source, COUNT(*) AS n, COUNT(DISTINCT tm.member_id) AS members FROM tribe_members tm "
                "JOIN tribes t ON t.id = tm.tribe_id WHERE t.brand_id = :b GROUP BY tm.source"), {"b": brand})).all()
        assert [tuple(r) for r in rows] == [("rule", 11_000, 1000)]

    run_scenario(database_url, scenario)


def test_batches_written_together_store_each_as_on_its_own(database_url: str) -> None:
    """Three batches in one transaction (on SQLite, the writer held until all three wait) as
    each stored on its own, in turn (on PostgreSQL, where batches are never written together): an
    account new in two of them is one member, with the facts of its latest sighting; an id in
    two is stored by the first and a duplicate in the second; an account let into a tribe by
    its rule in two batches joins it at the first one's time."""
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        async with runtime.db.transaction() as conn:
            tribe = (await TribeService(conn, caller).create(
                TribeCreate(brand_id=brand, name="Brewers", rules=TribeRules(hashtags=["brew"])))).id
        ev = EventBuilder(brand)

        def anna(followers: int, **facts: Any) -> dict[str, Any]:
            return {"id": "1001", "handle": "anna", "followers": followers, **facts}

        batches = [
            [ev.post(actor=anna(10), id="a1", post_id="p1", text="My #brew"), ev.like(actor="bob", id="shared")],
            [ev.like(actor="bob", id="shared"), ev.post(actor=anna(20, bio="coffee"), id="a2", post_id="p2",
                                                        text="More #brew")],
            [ev.like(actor="carl", id="c1")],
        ]
        if runtime.db.dialect == "sqlite":
            sent = []
            async with runtime.db.writing():
                for b in batches:  # queued in this order
                    sent.append(asyncio.ensure_future(ingest_batch(runtime.db, runtime.registry, caller, b)))
                    await waiting_for_writer(runtime, len(sent))
            results = [await batch for batch in sent]
        else:  # each on its own, in turn: what the three written together must match
            results = [await ingest_batch(runtime.db, runtime.registry, caller, b) for b in batches]
        assert [(r.result.accepted, r.result.duplicates) for r in results] == [(2, 0), (1, 1), (1, 0)]
        assert [r.new_ids for r in results] == [["a1", "shared"], ["a2"], ["c1"]]
        ws = caller.workspace_id
        async with runtime.db.reading() as conn:
            members = (await conn.execute(sa.text("SELECT COUNT(*) FROM members WHERE workspace_id = :w"),
                                          {"w": ws})).scalar()
            identities = (await conn.execute(sa.text(
                "SELECT i.external_id, i.member_id, i.profile FROM member_identities i "
                "JOIN members m ON m.id = i.member_id WHERE i.workspace_id = :w ORDER BY i.handle"), {"w": ws})).all()
            on_anna = (await conn.execute(sa.text(
                "SELECT COUNT(DISTINCT member_id), MIN(ingested_at) FROM events WHERE actor_id = '1001' "
                "AND workspace_id = :w"), {"w": ws})).one()
            joined = (await conn.execute(sa.text(
                "SELECT member_id, created_at FROM tribe_members WHERE tribe_id = :t"), {"t": tribe})).all()
        assert members == 3 and len(identities) == 3  # anna, bob, carl: no member made twice
        anna_member, anna_profile = identities[0][1], bulk.json_value(identities[0][2])
        assert (anna_profile["followers"], anna_profile["bio"]) == (20, "coffee")
        assert on_anna[0] == 1
        assert [r.member_id for r in joined] == [anna_member]
        first_seen = on_anna[1] if isinstance(on_anna[1], datetime) else datetime.fromisoformat(on_anna[1])
        joined_at = joined[0].created_at
        joined_at = joined_at if isinstance(joined_at, datetime) else datetime.fromisoformat(joined_at)
        assert joined_at.replace(tzinfo=None) == first_seen.replace(tzinfo=None)

    run_scenario(database_url, scenario)
