"""Aggregation runs and ingest side by side: nothing new is lost, and on PostgreSQL a long run
never holds up the brand's incoming events."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tribeops.core import aggregate, ingest
from tribeops.core.db import WAL_BACKSTOP_PAGES
from tribeops.core.ingest import ingest_batch
from tribeops.core.migrate import upgrade
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.campaigns import CampaignCreate, CampaignUpdate
from tribeops.core.schemas.tribes import TribeCreate, TribeRules
from tribeops.core.services.campaigns import CampaignService
from tribeops.core.services.members import MemberService
from tribeops.core.services.tribes import TribeService
from tribeops.core.tables import ROLLUP_SUMS
from tribeops.testing.events import EventBuilder

from ..api.test_scorecards import KIT, _e, conversation
from ..scenarios import pause_first_call, run_scenario, workspace_with_brand


async def _state(runtime: Runtime, brand: str) -> tuple[int, int, int]:
    async with runtime.db.reading() as conn:
        row = (await conn.execute(sa.text("SELECT watermark, pending, touches FROM agg_state WHERE brand_id = :b"),
                                  {"b": brand})).one()
        likes = (await conn.execute(sa.text("SELECT COALESCE(SUM(n), 0) FROM rollups WHERE brand_id = :b "
                                            "AND tribe = '*' AND kind = 'like'"), {"b": brand})).scalar()
        return int(row.pending), int(likes), int(row.touches)


def test_events_arriving_after_the_horizon_stay_pending_until_the_next_run(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        ev = EventBuilder(brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="a"), ev.like(actor="b")])
        until = await aggregate.horizon(runtime.db, caller.workspace_id, brand)
        # A batch commits between the horizon and the run: the run must not mark it done.
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="c")])
        async with runtime.db.transaction() as conn:
            await aggregate.aggregate(conn, caller.workspace_id, brand, until)
        assert await _state(runtime, brand) == (1, 2, until.touches + 1)
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        pending, likes, _ = await _state(runtime, brand)
        assert (pending, likes) == (0, 3)

    run_scenario(database_url, scenario)


def test_ingest_goes_on_while_a_rebuild_runs(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: a batch waits for any running transaction there")

    async def scenario(runtime: Runtime) -> None:
        # The rebuild has done its work, not committed.
        caller, brand = await workspace_with_brand(runtime)
        reached, go_on = pause_first_call(monkeypatch, aggregate, "_settle", brand)
        ev = EventBuilder(brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="a")])
        rebuild = asyncio.create_task(aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id,
                                                    brand))
        await asyncio.wait_for(reached.wait(), timeout=10)
        batch = await asyncio.wait_for(ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="b")]),
                                       timeout=10)
        assert batch.result.accepted == 1
        # A second run for the brand waits for the first instead of overlapping it.
        second = asyncio.create_task(aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id,
                                                   brand))
        await asyncio.sleep(0.5)
        assert not second.done()
        go_on.set()
        await asyncio.wait_for(asyncio.gather(rebuild, second), timeout=10)
        pending, likes, _ = await _state(runtime, brand)
        assert (pending, likes) == (0, 2)

    run_scenario(database_url, scenario)


def test_batches_of_one_brand_are_stored_side_by_side_and_a_horizon_waits_for_them(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: batches take turns there")

    async def scenario(runtime: Runtime) -> None:
        # The first batch has its seqs, not committed.
        caller, brand = await workspace_with_brand(runtime)
        reached, go_on = pause_first_call(monkeypatch, ingest, "mark_pending", brand)
        ev = EventBuilder(brand)
        first = asyncio.create_task(ingest_batch(runtime.db, runtime.registry, caller,
                                                 [ev.like(actor="a"), ev.like(actor="b")]))
        await asyncio.wait_for(reached.wait(), timeout=10)
        # Another batch of the same brand is not held up by the one in flight...
        batch = await asyncio.wait_for(
            ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="c")]), timeout=10)
        assert batch.result.accepted == 1
        # ...but a run's horizon waits until every batch in flight has committed.
        closing = asyncio.create_task(aggregate.horizon(runtime.db, caller.workspace_id, brand))
        await asyncio.sleep(0.5)
        assert not closing.done()
        go_on.set()
        assert (await asyncio.wait_for(first, timeout=10)).result.accepted == 2
        until = await asyncio.wait_for(closing, timeout=10)
        async with runtime.db.reading() as conn:
            newest = (await conn.execute(sa.text("SELECT MAX(seq) FROM events WHERE brand_id = :b"),
                                         {"b": brand})).scalar()
        assert until.seq == newest
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        pending, likes, _ = await _state(runtime, brand)
        assert (pending, likes) == (0, 3)

    run_scenario(database_url, scenario)


async def _flags(runtime: Runtime, brand: str) -> tuple[int, int]:
    """The brand's ``pending`` and ``rebuild`` flags."""
    async with runtime.db.reading() as conn:
        row = (await conn.execute(sa.text("SELECT pending, rebuild FROM agg_state WHERE brand_id = :b"),
                                  {"b": brand})).one()
        return int(row.pending), int(row.rebuild)


async def _aggregates(runtime: Runtime, brand: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every aggregate row of the brand (zero rows left out), in a stable order."""
    out = {}
    async with runtime.db.reading() as conn:
        for table, sums in (("rollups", "n + value + message + answered + m_reply + q_answered + active"),
                            ("member_days", "active + positive_amp + answer_other_q"),
                            ("event_facts", "1")):
            rows = await conn.execute(sa.text(f"SELECT * FROM {table} WHERE brand_id = :b AND {sums} <> 0"),
                                      {"b": brand})
            out[table] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def test_a_rule_joined_later_attributes_old_events_alike_in_runs_and_rebuilds(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        async with runtime.db.transaction() as conn:
            await TribeService(conn, caller).create(TribeCreate(brand_id=brand, name="Coffee people",
                                                                rules=TribeRules(hashtags=["coffee"])))
        ev = EventBuilder(brand)
        ingest = [[ev.event("question", "anna", post_id="q1", text="How long should it steep?")],
                  [ev.post(actor="anna", post_id="p1", text="Morning #coffee")],  # Anna joins the tribe
                  [ev.event("answer", "acme", post_id="a1", in_reply_to="q1", text="Four minutes"),
                   ev.event("answer", "bob", post_id="a2", in_reply_to="q1", text="Five for me")]]
        for batch in ingest:
            await ingest_batch(runtime.db, runtime.registry, caller, batch)
            await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        incremental = await _aggregates(runtime, brand)
        assert incremental["event_facts"], "the question got links"
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert await _aggregates(runtime, brand) == incremental

    run_scenario(database_url, scenario)


def test_a_rebuild_is_done_even_if_events_keep_coming(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        ev = EventBuilder(brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="a")])
        async with runtime.db.transaction() as conn:
            await aggregate.mark_pending(conn, caller.workspace_id, [brand], rebuild=True)
        until = await aggregate.horizon(runtime.db, caller.workspace_id, brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="b")])  # during the rebuild
        async with runtime.db.transaction() as conn:
            await aggregate.rebuild(conn, caller.workspace_id, brand, until)
        assert await _flags(runtime, brand) == (1, 0)  # the new like waits for an incremental run
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert (await _state(runtime, brand))[:2] == (0, 2)

    run_scenario(database_url, scenario)


def test_a_rebuild_overtaken_by_a_later_run_keeps_what_that_run_counted(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        # A rebuild takes its horizon, then an incremental run with a later horizon gets the
        # brand first and counts a newer like: the rebuild, run after it, must keep that like.
        caller, brand = await workspace_with_brand(runtime)
        ev = EventBuilder(brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="a")])
        until = await aggregate.horizon(runtime.db, caller.workspace_id, brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="b")])
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert (await _state(runtime, brand))[:2] == (0, 2)
        async with runtime.db.transaction() as conn:
            result = await aggregate.rebuild(conn, caller.workspace_id, brand, until)
        assert result["to_seq"] > until.seq
        assert (await _state(runtime, brand))[1] == 2
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert (await _state(runtime, brand))[:2] == (0, 2)

    run_scenario(database_url, scenario)


@pytest.fixture
def sqlite_url(database_url: str, sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of the test's own: the shared one has the API tests' service
    counting its brands meanwhile, through the functions these tests wrap or break."""
    if not database_url.startswith("sqlite"):
        pytest.skip("about the staged SQLite rebuild: PostgreSQL rebuilds in one transaction on one connection, "
                    "which ingest does not wait for (see above)")
    shutil.copyfile(sqlite_template, tmp_path / "tribeops.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'tribeops.db'}"


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tribeops.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


async def _brand_with_a_like(runtime: Runtime) -> tuple[Any, str, EventBuilder]:
    """A new brand with one like stored, its admin caller, and a builder of its events."""
    caller, brand = await workspace_with_brand(runtime)
    ev = EventBuilder(brand)
    await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="a")])
    return caller, brand, ev


async def _paused_rebuild(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caller: Any,
                          brand: str) -> tuple[asyncio.Task[dict[str, Any]], asyncio.Event]:
    """A rebuild of the brand stopped while it reads: its snapshot taken and its temporary
    tables begun, its rows not worked out yet. Set the event to let it go on."""
    reached, go_on = pause_first_call(monkeypatch, aggregate, "_has_tribes", brand)
    rebuild = asyncio.create_task(aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand))
    await asyncio.wait_for(reached.wait(), timeout=10)
    return rebuild, go_on


async def _newest(runtime: Runtime, brand: str) -> int:
    async with runtime.db.reading() as conn:
        return int((await conn.execute(sa.text("SELECT MAX(seq) FROM events WHERE brand_id = :b"),
                                       {"b": brand})).scalar())


def test_a_sqlite_rebuild_reads_without_taking_the_writer(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, ev = await _brand_with_a_like(runtime)
        until = await _newest(runtime, brand)
        rebuild, go_on = await _paused_rebuild(runtime, monkeypatch, caller, brand)
        batch = await asyncio.wait_for(ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="b")]),
                                       timeout=10)
        assert batch.result.accepted == 1
        go_on.set()
        # Nothing settled the brand in between: the staged rows are written as they are, and
        # the new like waits for the next run.
        assert (await asyncio.wait_for(rebuild, timeout=10))["to_seq"] == until
        assert (await _state(runtime, brand))[:2] == (1, 1)
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert (await _state(runtime, brand))[:2] == (0, 2)

    run_scenario(sqlite_url, scenario)


def test_the_kit_pass_reads_only_campaign_copies_through_their_index(sqlite_url: str) -> None:
    """SQLite uses a partial index only for a query that states its condition: a rewording of
    either would walk the whole brand again, before every rebuild, without failing anything else."""
    async def scenario(runtime: Runtime) -> None:
        async with runtime.db.reading() as conn:
            plan = (await conn.execute(sa.text("EXPLAIN QUERY PLAN " + aggregate.CAMPAIGN_EVENTS),
                                       {"b": "brd_x", "after": 0, "n": 10})).all()
        assert [row[-1] for row in plan] == ["SEARCH events USING INDEX ix_events_kit_copies (brand_id=? AND seq>?)"]

    run_scenario(sqlite_url, scenario)


def test_sqlite_staging_writes_only_temporary_tables(sqlite_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        ev = EventBuilder(brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.post(actor="anna", post_id="p1"),
                                                                  ev.comment(actor="bob", in_reply_to="p1")])
        async with runtime.db.engine.connect() as conn:
            await conn.execution_options(readonly=True)
            async with conn.begin():
                await aggregate._stage(conn, caller.workspace_id, brand, await _newest(runtime, brand))
                staged = (await conn.execute(sa.text("SELECT SUM(n) FROM agg_own_rollups"))).scalar()
                assert staged == 2
                # Its read transaction still open, the writer is free for a batch.
                batch = await asyncio.wait_for(
                    ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="c")]), timeout=10)
                assert batch.result.accepted == 1

    run_scenario(sqlite_url, scenario)


def test_a_sqlite_rebuild_overtaken_while_it_reads_works_its_rows_out_again(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, ev = await _brand_with_a_like(runtime)
        rebuild, go_on = await _paused_rebuild(runtime, monkeypatch, caller, brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.like(actor="b")])
        # A run counts the new like before the rebuild writes: the rows it staged lack it.
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        go_on.set()
        assert (await asyncio.wait_for(rebuild, timeout=10))["to_seq"] == await _newest(runtime, brand)
        assert (await _state(runtime, brand))[1] == 2
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert (await _state(runtime, brand))[:2] == (0, 2)

    run_scenario(sqlite_url, scenario)


def test_a_sqlite_rebuild_never_writes_over_a_newer_one(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def copies(runtime: Runtime, brand: str) -> tuple[int, int]:
        async with runtime.db.reading() as conn:
            row = (await conn.execute(sa.text("SELECT SUM(mega_text), SUM(mega_copy) FROM rollups WHERE brand_id = :b "
                                              "AND tribe = '*'"), {"b": brand})).one()
        return int(row[0]), int(row[1])

    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        async with runtime.db.transaction() as conn:
            campaign = (await CampaignService(conn, caller).create(CampaignCreate(
                brand_id=brand, name="Mornings", mode="push", kit_message=KIT))).id
        post = {**EventBuilder(brand).post(actor="anna", text=KIT), "campaign_id": campaign}
        await ingest_batch(runtime.db, runtime.registry, caller, [post])
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert await copies(runtime, brand) == (1, 1)
        # A rebuild reads the post as a copy of the kit; meanwhile the kit changes, and a second
        # rebuild, run whole, finds it is no copy any more. The first must not undo that.
        first, go_on = await _paused_rebuild(runtime, monkeypatch, caller, brand)
        async with runtime.db.transaction() as conn:
            await CampaignService(conn, caller).update(campaign, CampaignUpdate(kit_message="Tea, every afternoon"))
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert await copies(runtime, brand) == (1, 0)
        go_on.set()
        await asyncio.wait_for(first, timeout=10)
        assert await copies(runtime, brand) == (1, 0)

    run_scenario(sqlite_url, scenario)


async def _brand_with_everything(runtime: Runtime) -> tuple[Any, str, dict[str, list[tuple[Any, ...]]]]:
    """A brand with every fact, link and attribution: campaigns and none, two networks, a tribe by
    rule and one given by the event, paid events, kit copies, thanks, questions answered by
    members; counted by runs. Returns its admin caller, its id and what the runs kept."""
    caller, brand = await workspace_with_brand(runtime)
    async with runtime.db.transaction() as conn:
        tribes = TribeService(conn, caller)
        await tribes.create(TribeCreate(brand_id=brand, name="Brewers", rules=TribeRules(hashtags=["brew"])))
        fans = (await tribes.create(TribeCreate(brand_id=brand, name="Fans"))).id
        campaign = (await CampaignService(conn, caller).create(CampaignCreate(
            brand_id=brand, name="Mornings", mode="pull", kit_message=KIT))).id
    items = [{**_e("X0", "post", "dan", "2026-03-01T08:00:00Z", "x0", None, "My #brew setup"), "brand_id": brand}]
    for i, event in enumerate(conversation()):
        item = {**event, "brand_id": brand, "campaign_id": campaign if i % 3 else None,
                "network": "instagram" if i % 4 == 1 else "x"}
        if i % 5 == 2:
            item["tribe_id"] = fans
        if i % 7 == 3:
            item["paid"] = True
        items.append(item)
    for batch in (items[:9], items[9:20], items[20:]):
        assert (await ingest_batch(runtime.db, runtime.registry, caller, batch)).result.rejected == []
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
    kept = await _aggregates(runtime, brand)
    tribes_seen = {row[2] for row in kept["rollups"]}
    assert len(tribes_seen) == 3 and {row[1] for row in kept["rollups"]} >= {"", campaign}
    assert len(kept["event_facts"]) >= 5 and len(kept["member_days"]) >= 10
    return caller, brand, kept


def test_a_rebuild_writes_exactly_what_the_runs_kept(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, incremental = await _brand_with_everything(runtime)
        facts = ", ".join(aggregate.FACT_COLUMNS[1:])
        async with runtime.db.transaction() as conn:  # figures gone wrong: changed, lost and made up
            for damage in ("UPDATE rollups SET n = n + 1, thanks = thanks + 1 WHERE brand_id = :b AND kind = 'comment'",
                           "UPDATE member_days SET active = active + 2 WHERE brand_id = :b AND tribe = '*'",
                           "DELETE FROM member_days WHERE brand_id = :b AND tribe <> '*'",
                           "INSERT INTO rollups SELECT brand_id, campaign, tribe, network, '2020-01-01', kind, origin, "
                           f"workspace_id, {', '.join(ROLLUP_SUMS)} FROM rollups WHERE brand_id = :b AND kind = 'like'",
                           # A fact's flag, and a value made null (which no comparison with = sees).
                           "UPDATE event_facts SET thanks = 1 - thanks WHERE brand_id = :b AND tribe = '*' AND m_reply > 0",
                           "UPDATE event_facts SET response_minutes = NULL WHERE brand_id = :b AND answered > 0",
                           "DELETE FROM event_facts WHERE brand_id = :b AND tribe <> '*'",
                           f"INSERT INTO event_facts (seq, {facts}) SELECT seq + 100000, {facts} FROM event_facts "
                           "WHERE brand_id = :b AND tribe = '*'"):
                assert (await conn.execute(sa.text(damage), {"b": brand})).rowcount > 0, damage
        assert await _aggregates(runtime, brand) != incremental
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert await _aggregates(runtime, brand) == incremental

    run_scenario(database_url, scenario)


def _scratch_files(database_url: str) -> set[str]:
    """The rebuilds' scratch databases beside the database file."""
    return set(glob.glob(database_url.split("///", 1)[1] + "-rebuild-*"))


async def _pooled(runtime: Runtime, pragma: str) -> set[Any]:
    """What ``pragma`` answers on two connections of the pool at once (its rows' last column)."""
    async with runtime.db.reading() as one, runtime.db.reading() as two:
        return {row[-1] for conn in (one, two) for row in await conn.exec_driver_sql(f"PRAGMA {pragma}")}


async def _left_clean(runtime: Runtime, database_url: str, scratch: set[str]) -> None:
    """No scratch database left behind, on disk or attached to a pooled connection, and the
    pool's connections copying their log back as usual."""
    assert _scratch_files(database_url) == scratch
    assert await _pooled(runtime, "database_list") <= {"", os.path.realpath(database_url.split("///", 1)[1])}
    assert await _pooled(runtime, "wal_autocheckpoint") == {WAL_BACKSTOP_PAGES}


async def _member_days_lost(runtime: Runtime, brand: str, database_url: str) -> set[str]:
    """The brand's member-days gone, for a rebuild to write again; the scratch databases there
    are before it."""
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.text("DELETE FROM member_days WHERE brand_id = :b"), {"b": brand})
    return _scratch_files(database_url)


async def _merged_unseen(runtime: Runtime, brand: str) -> None:
    """A merge left to a rebuild, as the rebuild's second connection would see it and its first
    would not: one member's events given to another, a rebuild called for (``restates``)."""
    async with runtime.db.transaction() as conn:
        keep, gone = [row[0] for row in await conn.execute(sa.text(
            "SELECT member_id FROM events WHERE brand_id = :b AND origin = 'member' GROUP BY member_id "
            "ORDER BY COUNT(*) DESC LIMIT 2"), {"b": brand})]
        await conn.execute(sa.text("UPDATE events SET member_id = :k WHERE brand_id = :b AND member_id = :g"),
                           {"b": brand, "k": keep, "g": gone})
        await conn.execute(sa.text("UPDATE agg_state SET restates = restates + 1, rebuild = 1 WHERE brand_id = :b"),
                           {"b": brand})


def _second_connections(monkeypatch: pytest.MonkeyPatch,
                        first: Callable[[], Awaitable[None]] | None = None) -> list[bool]:
    """Whether each rebuild's second connection gathered the own facts, in order; ``first``
    runs before the first one starts (after its rebuild's snapshot)."""
    original, gathered = aggregate._gather_aside, []

    async def second(*args: Any) -> bool:
        if first is not None and not gathered:
            await first()
        gathered.append(await original(*args))
        return gathered[-1]

    monkeypatch.setattr(aggregate, "_gather_aside", second)
    return gathered


@pytest.mark.parametrize("meanwhile", ["nothing", "a merge left to a rebuild"])
def test_a_sqlite_rebuild_reads_on_two_connections_and_writes_one_snapshot(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch, meanwhile: str) -> None:
    """The second connection gathers the own facts only if its snapshot shows the brand as the
    first's does; else the first gathers them, and the rows written are all of its snapshot.
    A first rebuild (rollups and member-days gone) and one that compares."""
    async def scenario(runtime: Runtime) -> None:
        caller, brand, kept = await _brand_with_everything(runtime)
        gathered = _second_connections(monkeypatch, None if meanwhile == "nothing" else
                                       lambda: _merged_unseen(runtime, brand))
        scratch = _scratch_files(sqlite_url)
        for lost in ("DELETE FROM rollups WHERE brand_id = :b; DELETE FROM member_days WHERE brand_id = :b",
                     "UPDATE event_facts SET answered = 0 WHERE brand_id = :b"):
            async with runtime.db.transaction() as conn:
                for statement in lost.split("; "):
                    await conn.execute(sa.text(statement), {"b": brand})
            await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
            if meanwhile != "nothing":
                assert await _flags(runtime, brand) == (1, 1), "the merge leaves a rebuild due"
                assert gathered == [False]
                break
        assert await _aggregates(runtime, brand) == kept
        assert gathered == [True, True] or meanwhile != "nothing"
        await _left_clean(runtime, sqlite_url, scratch)

    run_scenario(sqlite_url, scenario)


def test_a_sqlite_rebuild_whose_second_connection_fails_gathers_on_its_first(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, kept = await _brand_with_everything(runtime)
        original, attached = aggregate._attach, []

        async def attach(conn: Any, path: str) -> None:
            attached.append(path)
            if len(attached) == 2:  # the second connection's
                raise sqlite3.OperationalError("unable to open database file")
            await original(conn, path)

        monkeypatch.setattr(aggregate, "_attach", attach)
        gathered = _second_connections(monkeypatch)
        scratch = await _member_days_lost(runtime, brand, sqlite_url)
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert len(attached) == 2 and gathered == [False]
        assert await _aggregates(runtime, brand) == kept
        await _left_clean(runtime, sqlite_url, scratch)

    run_scenario(sqlite_url, scenario)


def test_a_sqlite_rebuild_failing_while_its_second_connection_reads_leaves_nothing(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, kept = await _brand_with_everything(runtime)
        linked, started = aggregate._linked, asyncio.Event()

        async def start() -> None:
            started.set()

        def broken(d: Any, tribes: bool) -> str:  # the first connection's statement fails at once
            return "SELECT * FROM no_such_table"

        _second_connections(monkeypatch, start)
        monkeypatch.setattr(aggregate, "_linked", broken)
        scratch = await _member_days_lost(runtime, brand, sqlite_url)
        with pytest.raises(sa.exc.OperationalError, match="no_such_table"):
            await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert started.is_set()
        await _left_clean(runtime, sqlite_url, scratch)
        monkeypatch.setattr(aggregate, "_linked", linked)
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert await _aggregates(runtime, brand) == kept

    run_scenario(sqlite_url, scenario)


def test_a_rebuilds_scratch_database_left_by_a_killed_process_goes(sqlite_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, _ = await _brand_with_a_like(runtime)
        path = sqlite_url.split("///", 1)[1]
        # Beyond Linux's highest process id (2**22): no such process. And this one's, alive.
        gone, ours = f"{path}-rebuild-{2 ** 22 + 1}-x.sqlite", f"{path}-rebuild-{os.getpid()}-x.sqlite"
        for name in (gone, ours):
            open(name, "w").close()
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert _scratch_files(sqlite_url) == {ours}
        os.remove(ours)

    run_scenario(sqlite_url, scenario)


@pytest.mark.parametrize("checkpointer", [True, False])
def test_a_sqlite_rebuild_leaves_copying_its_log_back_to_the_checkpointer(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch, checkpointer: bool) -> None:
    async def scenario(runtime: Runtime) -> None:
        if checkpointer:
            runtime.db.start()  # as the service and the worker do
        caller, brand, _ = await _brand_with_a_like(runtime)
        original, backstops = aggregate._settle, []

        async def settle(conn: Any, *args: Any, **kwargs: Any) -> None:  # in the rebuild's write transaction
            backstops.append((await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar())
            await original(conn, *args, **kwargs)

        monkeypatch.setattr(aggregate, "_settle", settle)
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        assert backstops == [0 if checkpointer else WAL_BACKSTOP_PAGES]
        await _left_clean(runtime, sqlite_url, set())

    run_scenario(sqlite_url, scenario)


def test_a_merge_while_a_sqlite_rebuild_reads_a_brand_counted_by_none_leaves_it_due(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand = await workspace_with_brand(runtime)
        ev = EventBuilder(brand)
        await ingest_batch(runtime.db, runtime.registry, caller, [ev.comment(actor="anna"), ev.comment(actor="bob")])
        async with runtime.db.reading() as conn:
            who = dict((await conn.execute(sa.text("SELECT actor_handle, member_id FROM events WHERE brand_id = :b"),
                                           {"b": brand})).all())
        rebuild, go_on = await _paused_rebuild(runtime, monkeypatch, caller, brand)  # the brand's first count
        async with runtime.db.transaction() as conn:  # while it reads the events as they were
            await MemberService(conn, caller).merge(who["anna"], who["bob"])
        go_on.set()
        await asyncio.wait_for(rebuild, timeout=10)
        assert (await _flags(runtime, brand))[1] == 1, "the merge left the rebuild due"
        await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
        async with runtime.db.reading() as conn:
            members = (await conn.execute(sa.text("SELECT DISTINCT member_id FROM member_days WHERE brand_id = :b"),
                                          {"b": brand})).scalars().all()
        assert members == [who["anna"]]

    run_scenario(sqlite_url, scenario)
