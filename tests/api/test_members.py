"""Members across networks, tribe membership from rules and by hand, merging identities."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tribeops.testing.events import EventBuilder

from ..scoring import run_job, settled, values


def _send(client: TestClient[Any], headers: dict[str, str], events: list[dict[str, Any]]) -> None:
    assert client.post("/v1/events", json={"events": events}, headers=headers).json()["accepted"] == len(events)


def test_actors_become_members_with_latest_profile(client: TestClient[Any], admin: dict[str, str],
                                                   brand: dict[str, Any]) -> None:
    ev = EventBuilder(brand["id"])
    _send(client, admin, [ev.like(actor={"id": "42", "handle": "anna", "followers": 10, "bio": "barista"}),
                          ev.like(actor={"id": "42", "handle": "anna_b", "followers": 12})])
    members = client.get("/v1/members", params={"brand_id": brand["id"]}, headers=admin).json()["data"]
    assert len(members) == 1
    identity = members[0]["identities"][0]
    assert identity["handle"] == "anna_b" and identity["profile"] == {"followers": 12, "bio": "barista"}
    detail = client.get(f"/v1/members/{members[0]['id']}", headers=admin).json()
    assert detail["activity"]["events"] == 2 and detail["activity"]["by_kind"] == {"like": 2}


def test_rules_put_members_in_tribes_and_removal_sticks(client: TestClient[Any], admin: dict[str, str],
                                                        brand: dict[str, Any]) -> None:
    tribe = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "Baristas", "rules": {
        "hashtags": ["HomeBarista"], "keywords": ["latte art"], "handles": ["@vip"]}}, headers=admin).json()["id"]
    ev = EventBuilder(brand["id"])
    _send(client, admin, [ev.post(actor="h1", text="my #homebarista setup"),
                          ev.post(actor="k1", text="Latte art attempt"),
                          ev.like(actor={"id": "b1", "handle": "b1", "bio": "I do latte art"}),
                          ev.like(actor="vip"), ev.post(actor="nobody", text="latte artistry")])
    members = client.get("/v1/members", params={"tribe_id": tribe}, headers=admin).json()["data"]
    handles = {m["identities"][0]["handle"] for m in members}
    assert handles == {"h1", "k1", "b1", "vip"}
    h1 = next(m["id"] for m in members if m["identities"][0]["handle"] == "h1")
    assert client.delete(f"/v1/tribes/{tribe}/members/{h1}", headers=admin).status_code == 204
    _send(client, admin, [ev.post(actor="h1", text="#homebarista again")])
    assert h1 not in {m["id"] for m in client.get("/v1/members", params={"tribe_id": tribe},
                                                   headers=admin).json()["data"]}
    added = client.post(f"/v1/tribes/{tribe}/members", json={"member_id": h1}, headers=admin)
    assert added.status_code == 200 and added.json()["source"] == "manual"
    untagged = client.get("/v1/events", params={"tribe_id": tribe, "limit": 100}, headers=admin).json()["data"]
    assert {e["actor"]["handle"] for e in untagged} == {"h1", "k1", "b1", "vip"}


def test_merge_joins_two_identities_of_one_person(client: TestClient[Any], admin: dict[str, str],
                                                  brand: dict[str, Any]) -> None:
    _send(client, admin, [EventBuilder(brand["id"], network="x").like(actor="anna"),
                          EventBuilder(brand["id"], network="instagram").comment(actor="anna.ig")])
    members = client.get("/v1/members", headers=admin).json()["data"]
    assert len(members) == 2
    keep, other = members[0]["id"], members[1]["id"]
    merged = client.post(f"/v1/members/{keep}/merge", json={"member_id": other}, headers=admin)
    assert merged.status_code == 200
    assert {i["network"] for i in merged.json()["identities"]} == {"x", "instagram"}
    assert merged.json()["activity"]["events"] == 2
    assert [m["id"] for m in client.get("/v1/members", headers=admin).json()["data"]] == [keep]
    assert client.post(f"/v1/members/{keep}/merge", json={"member_id": keep}, headers=admin).status_code == 422
    assert client.post(f"/v1/members/{keep}/merge", json={"member_id": other}, headers=admin).status_code == 422


def test_merge_recounts_the_history_of_both_identities(client: TestClient[Any], admin: dict[str, str],
                                                       brand: dict[str, Any]) -> None:
    _send(client, admin, [EventBuilder(brand["id"], network="x").comment(actor="anna"),
                          EventBuilder(brand["id"], network="instagram").comment(actor="anna.ig")])
    scope = {"brand_id": brand["id"]}
    assert values(settled(client, admin, scope))["active_members"] == 2
    keep, other = (m["id"] for m in client.get("/v1/members", headers=admin).json()["data"])
    assert client.post(f"/v1/members/{keep}/merge", json={"member_id": other}, headers=admin).status_code == 200
    # Restated by the merge itself: right away, with no rebuild.
    card = client.get("/v1/scorecards", params=scope, headers=admin).json()
    assert card["pending"] is False and values(card)["active_members"] == 1
    kinds = [j["kind"] for j in client.get("/v1/jobs", headers=admin).json()["data"]]
    assert "scorecards.rebuild" not in kinds


def test_tribe_edits_move_the_members_past_events(client: TestClient[Any], admin: dict[str, str],
                                                  brand: dict[str, Any]) -> None:
    tribe = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "Staff"}, headers=admin).json()["id"]
    _send(client, admin, [EventBuilder(brand["id"]).comment(actor="bea")])
    scope = {"brand_id": brand["id"], "tribe_id": tribe}
    assert values(settled(client, admin, scope))["active_members"] == 0
    bea = client.get("/v1/members", headers=admin).json()["data"][0]["id"]
    assert client.post(f"/v1/tribes/{tribe}/members", json={"member_id": bea}, headers=admin).status_code == 200
    assert values(client.get("/v1/scorecards", params=scope, headers=admin).json())["active_members"] == 1
    assert client.delete(f"/v1/tribes/{tribe}/members/{bea}", headers=admin).status_code == 204
    assert values(client.get("/v1/scorecards", params=scope, headers=admin).json())["active_members"] == 0


def _member(client: TestClient[Any], headers: dict[str, str], handle: str) -> str:
    members = client.get("/v1/members", params={"limit": 100}, headers=headers).json()["data"]
    return str(next(m["id"] for m in members if m["identities"][0]["handle"] == handle))


@pytest.mark.parametrize("survivor", ["al", "bea"])
def test_a_merge_keeps_the_persons_tribe_membership_whichever_survives(client: TestClient[Any],
                                                                       admin: dict[str, str],
                                                                       brand: dict[str, Any], survivor: str) -> None:
    tribe = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "Taggers",
                                            "rules": {"hashtags": ["tag"]}}, headers=admin).json()["id"]
    ev = EventBuilder(brand["id"])
    _send(client, admin, [ev.post(actor="bea", text="hello #tag"), ev.post(actor="al", text="hello")])
    _send(client, admin, [ev.post(actor="al", text="me too #tag")])  # al matched one batch later
    # A person added by hand, and their other account matched by the rules later.
    _send(client, admin, [ev.post(actor="di", text="nothing to see")])
    di = _member(client, admin, "di")
    assert client.post(f"/v1/tribes/{tribe}/members", json={"member_id": di}, headers=admin).status_code == 200
    _send(client, admin, [ev.post(actor="cy", text="and #tag")])
    scope = {"brand_id": brand["id"], "tribe_id": tribe}
    # bea's post, al's second, di's (added by hand: all of theirs), cy's.
    assert values(settled(client, admin, scope))["ugc_posts"] == 4
    pairs = [("al", "bea"), ("cy", "di")] if survivor == "al" else [("bea", "al"), ("di", "cy")]
    for keep, other in pairs:
        merged = client.post(f"/v1/members/{_member(client, admin, keep)}/merge",
                             json={"member_id": _member(client, admin, other)}, headers=admin)
        assert merged.status_code == 200, merged.text
    # One person each now, matched by the rules with bea's post: al's first post, in that batch,
    # counts too; di was added by hand: all of cy's count. Whichever account survives.
    assert values(client.get("/v1/scorecards", params=scope, headers=admin).json())["ugc_posts"] == 5
    memberships = {m["id"]: m for m in client.get("/v1/members", params={"tribe_id": tribe}, headers=admin
                                                  ).json()["data"]}
    assert len(memberships) == 2
    run_job(client, admin, brand["id"], "scorecards.rebuild")
    assert values(client.get("/v1/scorecards", params=scope, headers=admin).json())["ugc_posts"] == 5
