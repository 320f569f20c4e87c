"""Merges and tribe edits restate the past events they change, in their own transaction, and a
new kit message has the brand's next run restate the events whose measure changed: the
figures are then exactly those of a rebuild, with no rebuild run."""

from __future__ import annotations

import asyncio
import random
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from tribeops.core import aggregate
from tribeops.core.db import advisory_locks
from tribeops.core.ingest import ingest_batch
from tribeops.core.runtime import Runtime
from tribeops.core.schemas.campaigns import CampaignCreate, CampaignUpdate
from tribeops.core.schemas.tribes import TribeCreate, TribeRules
from tribeops.core.services.campaigns import CampaignService
from tribeops.core.services.members import MemberService
from tribeops.core.services.tribes import TribeService

from ..api.test_scorecards import KIT, _e, conversation
from ..scenarios import pause_first_call, run_scenario, workspace_with_brand
from .test_aggregation_runs import _aggregates, _flags


def _network(actor: str) -> str:
    """Each actor on one network, two networks in all: one member per actor."""
    return "instagram" if actor in ("bob", "gina", "ivy", "kim") else "x"


async def _member(runtime: Runtime, caller: Any, handle: str) -> str:
    async with runtime.db.reading() as conn:
        return (await conn.execute(sa.text("SELECT member_id FROM member_identities WHERE workspace_id = :w "
                                           "AND external_id = :h"), {"w": caller.workspace_id, "h": handle})).one()[0]


async def _counted(runtime: Runtime, caller: Any) -> tuple[str, str, str]:
    """A brand with the whole conversation counted by runs, tribes by rule (#brew), by hand
    (Fans) and given by events; returns (brand, Brewers, Fans)."""
    caller_ws = caller.workspace_id
    async with runtime.db.transaction() as conn:
        brand = (await conn.execute(sa.text("SELECT id FROM brands WHERE workspace_id = :w"), {"w": caller_ws})).scalar()
        tribes = TribeService(conn, caller)
        brewers = (await tribes.create(TribeCreate(brand_id=brand, name="Brewers",
                                                   rules=TribeRules(hashtags=["brew"])))).id
        fans = (await tribes.create(TribeCreate(brand_id=brand, name="Fans"))).id
    items = [{**_e("X0", "post", "dan", "2026-03-01T08:00:00Z", "x0", None, "My #brew setup"), "brand_id": brand}]
    for i, event in enumerate(conversation()):
        item = {**event, "brand_id": brand, "network": _network(event["actor"]["id"])}
        if i % 5 == 2:
            item["tribe_id"] = fans
        items.append(item)
    for batch in (items[:12], items[12:]):
        assert (await ingest_batch(runtime.db, runtime.registry, caller, batch)).result.rejected == []
        await aggregate.run(runtime.db, "scorecards.aggregate", caller_ws, brand)
    return brand, brewers, fans


async def _rebuilt(runtime: Runtime, caller: Any, brand: str) -> dict[str, list[tuple[Any, ...]]]:
    await aggregate.run(runtime.db, "scorecards.rebuild", caller.workspace_id, brand)
    return await _aggregates(runtime, brand)


def test_merges_and_tribe_edits_leave_exactly_the_figures_of_a_rebuild(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, _ = await workspace_with_brand(runtime)
        brand, brewers, fans = await _counted(runtime, caller)
        # Not counted yet when the merges come: a reply of bob's to anna and the brand's answer to it.
        late = [{**_e("L1", "reply", "bob", "2026-03-03T09:00:00Z", "r2", "m1", "Me too"), "brand_id": brand,
                 "network": _network("bob")},
                {**_e("L2", "reply", "acme", "2026-03-03T09:30:00Z", "br3", "r2", "Thanks bob"), "brand_id": brand}]
        assert (await ingest_batch(runtime.db, runtime.registry, caller, late)).result.rejected == []
        before = await _aggregates(runtime, brand)
        who = {h: await _member(runtime, caller, h) for h in ("anna", "bob", "dan", "erin", "kim", "gina")}
        for change in (
            # bob's reply to anna becomes anna's reply to herself: no longer between members.
            lambda members: members.merge(who["anna"], who["bob"]),
            # erin's question, first answered by dan, becomes answered by its own asker.
            lambda members: members.merge(who["erin"], who["dan"]),
            lambda members: members.add_to_tribe(fans, who["kim"]),
            lambda members: members.add_to_tribe(brewers, who["gina"]),
            lambda members: members.remove_from_tribe(brewers, who["erin"]),  # in it by rule, as dan
        ):
            async with runtime.db.transaction() as conn:
                await change(MemberService(conn, caller))
            assert (await _flags(runtime, brand))[1] == 0  # restated in place, no rebuild due
        restated = await _aggregates(runtime, brand)
        assert restated != before
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)  # counts L1 and L2
        counted = await _aggregates(runtime, brand)
        assert await _rebuilt(runtime, caller, brand) == counted

    run_scenario(database_url, scenario)


def test_random_merges_and_tribe_edits_between_runs_match_a_rebuild(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        for seed in range(3):
            rng = random.Random(seed)
            caller, _ = await workspace_with_brand(runtime)
            brand, brewers, fans = await _counted(runtime, caller)
            handles = ["anna", "bob", "carla", "dan", "erin", "frank", "gina", "hank", "kim"]
            merged: set[str] = set()
            for step in range(8):
                members = {h: await _member(runtime, caller, h) for h in handles}
                async with runtime.db.transaction() as conn:
                    service = MemberService(conn, caller)
                    action = rng.choice(("merge", "add", "remove", "events"))
                    keep, other = rng.sample([h for h in handles if h not in merged], 2)
                    if action == "merge":
                        await service.merge(members[keep], members[other])
                        merged.add(other)
                    elif action == "add":
                        await service.add_to_tribe(rng.choice((brewers, fans)), members[keep])
                    elif action == "remove":
                        await service.add_to_tribe(fans, members[keep])
                        await service.remove_from_tribe(fans, members[keep])
                if action == "events":  # replies between members, some answered by the brand
                    batch = [{**_e(f"R{seed}-{step}", "reply", keep, "2026-03-04T09:00:00Z", f"rp{step}",
                                   rng.choice(("m1", "Q1", "Q2", "n1", "B1")), "Sure"), "brand_id": brand,
                              "network": _network(keep)},
                             {**_e(f"A{seed}-{step}", "reply", "acme", "2026-03-04T09:30:00Z", f"ra{step}",
                                   f"rp{step}", "Thanks"), "brand_id": brand}]
                    assert (await ingest_batch(runtime.db, runtime.registry, caller, batch)).result.rejected == []
                if rng.random() < 0.5:
                    await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
                assert (await _flags(runtime, brand))[1] == 0
            await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
            counted = await _aggregates(runtime, brand)
            assert await _rebuilt(runtime, caller, brand) == counted, f"seed {seed}"

    run_scenario(database_url, scenario)


def test_a_merge_of_too_many_events_is_left_to_a_rebuild(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, _ = await workspace_with_brand(runtime)
        brand, _, _ = await _counted(runtime, caller)
        before = await _aggregates(runtime, brand)
        monkeypatch.setattr(aggregate, "RESTATE_LIMIT", 4)  # anna alone has 6 events
        async with runtime.db.transaction() as conn:
            await MemberService(conn, caller).merge(await _member(runtime, caller, "anna"),
                                                    await _member(runtime, caller, "bob"))
        assert await _flags(runtime, brand) == (1, 1)
        assert await _aggregates(runtime, brand) == before  # nothing half restated
        monkeypatch.setattr(aggregate, "RESTATE_LIMIT", 10_000)
        async with runtime.db.transaction() as conn:  # with a rebuild due, edits do not restate either
            await MemberService(conn, caller).add_to_tribe(
                (await conn.execute(sa.text("SELECT id FROM tribes WHERE brand_id = :b AND name = 'Fans'"),
                                    {"b": brand})).scalar(), await _member(runtime, caller, "kim"))
        assert await _aggregates(runtime, brand) == before
        rebuilt = await _rebuilt(runtime, caller, brand)
        assert rebuilt != before and await _flags(runtime, brand) == (0, 0)

    run_scenario(database_url, scenario)


def test_a_merge_during_a_run_is_left_to_a_rebuild(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs hold the one writer: a merge cannot come during one")

    async def scenario(runtime: Runtime) -> None:
        caller, _ = await workspace_with_brand(runtime)
        brand, _, _ = await _counted(runtime, caller)
        before = await _aggregates(runtime, brand)
        async with runtime.db.transaction() as run:  # a run of the brand under way
            await advisory_locks(run, aggregate.ONE_RUN, [brand], shared=False)
            async with runtime.db.transaction() as conn:
                await MemberService(conn, caller).merge(await _member(runtime, caller, "anna"),
                                                        await _member(runtime, caller, "bob"))
        assert await _flags(runtime, brand) == (1, 1)
        assert await _aggregates(runtime, brand) == before
        assert await _rebuilt(runtime, caller, brand) != before

    run_scenario(database_url, scenario)


TEA = "Tea time is the best time of the day"


async def _campaign_copies(runtime: Runtime, caller: Any, brand: str) -> str:
    """A campaign of the counted brand whose kit is ``KIT``: the brand's post of it, members'
    posts, shares and mentions that copy it or ``TEA``, one unlike either, some in a tribe by
    rule; all counted but the last two (a copy of each), sent after the run. Returns the
    campaign."""
    async with runtime.db.transaction() as conn:
        campaign = (await CampaignService(conn, caller).create(CampaignCreate(
            brand_id=brand, name="Mornings", mode="push", kit_message=KIT))).id
    copies = [("post", "acme", KIT), ("post", "anna", KIT), ("share", "bob", KIT + " #brew"), ("mention", "kim", KIT),
              ("post", "gina", TEA), ("share", "dan", TEA + " #brew"), ("post", "erin", "Nice"),
              ("post", "carla", KIT), ("mention", "hank", TEA)]
    events = [{**_e(f"K{i}", kind, who, f"2026-03-05T{8 + i:02d}:00:00Z", f"k{i}", None, text), "brand_id": brand,
               "network": _network(who), "campaign_id": campaign} for i, (kind, who, text) in enumerate(copies)]
    # The brand answers kim's mention: a linked event, whose facts are stored with their measure.
    events.insert(0, {**_e("KR", "reply", "acme", "2026-03-05T21:00:00Z", "kr", "k3", "Thanks kim"), "brand_id": brand})
    assert (await ingest_batch(runtime.db, runtime.registry, caller, events[:-2])).result.rejected == []
    await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
    assert (await ingest_batch(runtime.db, runtime.registry, caller, events[-2:])).result.rejected == []
    return campaign


async def _brand_with_copies(runtime: Runtime, counted: bool = False) -> tuple[Any, str, str]:
    """A new workspace's brand counted by runs (see :func:`_counted`), with
    :func:`_campaign_copies` (with ``counted``, all of them counted by a run):
    (caller, brand, campaign)."""
    caller, _ = await workspace_with_brand(runtime)
    brand, _, _ = await _counted(runtime, caller)
    campaign = await _campaign_copies(runtime, caller, brand)
    if counted:
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
    return caller, brand, campaign


async def _new_kit(runtime: Runtime, caller: Any, campaign: str, kit: str | None) -> None:
    async with runtime.db.transaction() as conn:
        await CampaignService(conn, caller).update(campaign, CampaignUpdate(kit_message=kit))


async def _kit_changes(runtime: Runtime, brand: str) -> int:
    async with runtime.db.reading() as conn:
        return int((await conn.execute(sa.text("SELECT kit_changes FROM agg_state WHERE brand_id = :b"),
                                       {"b": brand})).scalar())


def test_a_new_kit_message_is_restated_by_the_next_run_as_a_rebuild_counts_it(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        # Two events a chunk: the restatement goes chunk by chunk.
        monkeypatch.setattr(aggregate, "refresh_similarities", partial(aggregate.refresh_similarities, chunk=2))
        caller, brand, campaign = await _brand_with_copies(runtime)
        before = await _aggregates(runtime, brand)
        await _new_kit(runtime, caller, campaign, TEA)
        assert await _flags(runtime, brand) == (1, 0)  # pending, for a run, not a rebuild
        result = await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        # Every copy of either message, each now a copy or no longer one, but the brand's own,
        # which counts for nothing; "Nice" is like neither.
        assert (result["kit_similarities_changed"], result["kit_events_recounted"]) == (8, 7)
        assert await _flags(runtime, brand) == (0, 0) and await _kit_changes(runtime, brand) == 0
        counted = await _aggregates(runtime, brand)
        assert counted != before
        assert await _rebuilt(runtime, caller, brand) == counted
        # A run with no kit change measures nothing again.
        assert "kit_similarities_changed" not in await aggregate.run(
            runtime.db, "scorecards.aggregate", caller.workspace_id, brand)

    run_scenario(database_url, scenario)


def test_a_kit_message_edited_recounts_only_the_copies_it_makes_or_unmakes(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, campaign = await _brand_with_copies(runtime, counted=True)
        before = await _aggregates(runtime, brand)
        await _new_kit(runtime, caller, campaign, KIT + " today")
        result = await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        # The exact copies measure 0.857 now, still copies; bob's, with "#brew", 0.75: no longer one.
        assert (result["kit_similarities_changed"], result["kit_events_recounted"]) == (5, 1)
        counted = await _aggregates(runtime, brand)
        assert counted != before
        assert await _rebuilt(runtime, caller, brand) == counted

    run_scenario(database_url, scenario)


def test_a_kit_message_removed_and_set_again_recounts_every_measured_event(database_url: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, campaign = await _brand_with_copies(runtime, counted=True)
        for kit, expected in ((None, (9, 8)), (KIT, (9, 8))):  # "Nice", 0.0, is measured all the same
            await _new_kit(runtime, caller, campaign, kit)
            result = await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
            assert (result["kit_similarities_changed"], result["kit_events_recounted"]) == expected
            counted = await _aggregates(runtime, brand)
            assert await _rebuilt(runtime, caller, brand) == counted, kit

    run_scenario(database_url, scenario)


def test_a_kit_message_changed_during_a_run_leaves_the_brand_pending(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, campaign = await _brand_with_copies(runtime)
        await _new_kit(runtime, caller, campaign, TEA)
        horizon = aggregate.horizon

        async def changed_meanwhile(*args: Any) -> aggregate.Horizon:
            if args[2] != brand:  # a run of another brand (an API test's service, on the same database)
                return await horizon(*args)
            # After the run measured against TEA, before its horizon: a horizon that sees every
            # touch, so only the kit counter tells the run that its measures are out of date.
            await _new_kit(runtime, caller, campaign, "Espresso at dawn")
            monkeypatch.setattr(aggregate, "horizon", horizon)
            return await horizon(*args)

        monkeypatch.setattr(aggregate, "horizon", changed_meanwhile)
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert await _flags(runtime, brand) == (1, 0) and await _kit_changes(runtime, brand) == 1
        result = await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert result["kit_similarities_changed"] == 3  # the copies of TEA; none of either is like the third
        assert await _flags(runtime, brand) == (0, 0)
        counted = await _aggregates(runtime, brand)
        assert await _rebuilt(runtime, caller, brand) == counted

    run_scenario(database_url, scenario)


def test_a_new_kit_message_with_a_rebuild_due_is_left_to_it(database_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, campaign = await _brand_with_copies(runtime, counted=True)
        monkeypatch.setattr(aggregate, "RESTATE_LIMIT", 4)  # anna alone has more events
        async with runtime.db.transaction() as conn:
            await MemberService(conn, caller).merge(await _member(runtime, caller, "anna"),
                                                    await _member(runtime, caller, "bob"))
        before = await _aggregates(runtime, brand)
        await _new_kit(runtime, caller, campaign, TEA)
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert await _aggregates(runtime, brand) == before  # nothing half restated
        assert await _flags(runtime, brand) == (1, 1) and await _kit_changes(runtime, brand) == 0
        rebuilt = await _rebuilt(runtime, caller, brand)
        assert rebuilt != before and await _flags(runtime, brand) == (0, 0)

    run_scenario(database_url, scenario)


@pytest.mark.parametrize("kind", ["scorecards.aggregate", "scorecards.rebuild"])
def test_the_kit_measures_are_read_beside_ingest(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                 kind: str) -> None:
    async def scenario(runtime: Runtime) -> None:
        caller, brand, campaign = await _brand_with_copies(runtime)
        await _new_kit(runtime, caller, campaign, TEA)
        reached, go_on = pause_first_call(monkeypatch, aggregate, "_campaign_events", brand)
        run = asyncio.create_task(aggregate.run(runtime.db, kind, caller.workspace_id, brand))
        await asyncio.wait_for(reached.wait(), timeout=10)
        # The run holds neither the writer (SQLite) nor the brand's gate while it reads.
        late = {**_e("K9", "post", "ivy", "2026-03-06T08:00:00Z", "k9", None, KIT), "brand_id": brand,
                "campaign_id": campaign}
        batch = await asyncio.wait_for(ingest_batch(runtime.db, runtime.registry, caller, [late]), timeout=10)
        assert batch.result.accepted == 1
        go_on.set()
        assert (await asyncio.wait_for(run, timeout=10))["kit_similarities_changed"] == 8
        await aggregate.run(runtime.db, "scorecards.aggregate", caller.workspace_id, brand)
        assert await _flags(runtime, brand) == (0, 0)
        counted = await _aggregates(runtime, brand)
        assert await _rebuilt(runtime, caller, brand) == counted

    run_scenario(database_url, scenario)
