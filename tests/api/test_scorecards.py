"""Every metric against a small hand-built conversation, with the expected values written out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from tribeops.core.db import Database
from tribeops.core.settings import Settings

from ..scoring import finished_jobs, run_job, settled, values

KIT = "Show us your morning cup with #MyAcmeMorning"


def _e(eid: str, kind: str, actor: str, at: str, post_id: str | None = None, to: str | None = None,
       text: str | None = None, value: float = 1) -> dict[str, Any]:
    event: dict[str, Any] = {"id": eid, "network": "x", "kind": kind, "actor": {"id": actor, "handle": actor},
                             "occurred_at": at, "value": value}
    for key, val in (("post_id", post_id), ("in_reply_to", to), ("text", text)):
        if val is not None:
            event[key] = val
    return event


def conversation() -> list[dict[str, Any]]:
    d = "2026-03-02T"
    return [
        _e("E0", "comment", "anna", "2026-02-20T10:00:00Z", "a0", "OLD", "Nice"),  # before the period
        _e("E1", "post", "acme", d + "09:00:00Z", "B1", None, "New roast is out"),
        _e("E2", "post", "acme", d + "12:00:00Z", "B2", None, "Weekend hours"),
        _e("E3", "comment", "anna", d + "09:10:00Z", "m1", "B1", "Thank you, I love it!"),
        _e("E4", "reply", "bob", d + "09:20:00Z", "r1", "m1", "Same here"),
        _e("E5", "reply", "acme", d + "09:40:00Z", "br1", "m1", "Glad you like it"),
        _e("E6", "question", "carla", d + "10:00:00Z", "Q1", "B1", "How do you brew it?"),
        _e("E7", "reply", "acme", d + "10:10:00Z", "br2", "Q1", "With a moka pot"),
        _e("E8", "answer", "dan", d + "10:20:00Z", "a1", "Q1", "Use a moka pot, low flame"),
        _e("E9", "question", "erin", d + "11:00:00Z", "Q2", None, "Where can I buy beans?"),
        _e("E10", "answer", "dan", d + "11:05:00Z", "a2", "Q2", "At the shop downtown"),
        _e("E11", "mention", "anna", d + "13:00:00Z", "n1", None, "I love @acme, amazing coffee"),
        _e("E12", "mention", "anna", d + "14:00:00Z", "n2", None, "Great beans from @acme, love them"),
        _e("E13", "mention", "anna", d + "15:00:00Z", "n3", None, "Wonderful service at @acme, excellent"),
        _e("E14", "post", "frank", d + "16:00:00Z", "f1", None, KIT),
        _e("E15", "post", "gina", d + "16:30:00Z", "g1", None, "My own ritual: slow pour over at dawn"),
        _e("E16", "like", "hank", d + "17:00:00Z", None, "B1"),
        _e("E17", "like", "ivy", d + "17:01:00Z", None, "B1"),
        _e("E18", "like", "joe", d + "17:02:00Z", None, "B2"),
        _e("E19", "like", "acme", d + "17:03:00Z", None, "f1"),
        _e("E20", "share", "dan", d + "17:10:00Z", "s1", "B1"),
        _e("E21", "share", "kim", d + "17:11:00Z", "s2", "B2"),
        _e("E22", "follow", "lea", d + "18:00:00Z"), _e("E23", "follow", "max", d + "18:01:00Z"),
        _e("E24", "follow", "ned", d + "18:02:00Z"), _e("E25", "unfollow", "oli", d + "18:03:00Z"),
        _e("E25b", "follow", "acme", d + "18:04:00Z"),  # the brand following someone: no follower gained
        _e("E26", "impression", "analytics", d + "20:00:00Z", value=100),
        _e("E27", "impression", "analytics", d + "20:01:00Z", value=50),
        _e("E28", "view", "analytics", d + "20:02:00Z", value=20),
        _e("E29", "comment", "anna", "2026-03-15T10:00:00Z", "p1", "B2", "Still enjoying it"),  # after the end
    ]


EXPECTED = {
    "followers_gained": 2.0, "impressions": 150.0, "views": 20.0, "likes": 4.0, "applause_rate": 1.5,
    "conversation_rate": 1.0, "amplification_rate": 1.0, "reply_back_rate": pytest.approx(2 / 7),
    "median_response_minutes": 20.0, "active_members": 8.0, "returning_members": 1.0,
    "member_to_member_share": 0.75, "community_care_share": 0.5, "thanks": 1.0, "ambassadors": 2.0,
    "ugc_posts": 2.0, "after_campaign_activity": 1.0, "pull_index": 0.75, "megaphone_index": 0.2,
}


@pytest.fixture
def scored(client: TestClient[Any], admin: dict[str, str]) -> dict[str, Any]:
    brand = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "acme"}}, headers=admin).json()["id"]
    fans = client.post("/v1/tribes", json={"brand_id": brand, "name": "Anna's", "rules": {"handles": ["anna"]}},
                       headers=admin).json()["id"]
    campaign = client.post("/v1/campaigns", json={
        "brand_id": brand, "name": "Morning cup", "mode": "pull", "kit_message": KIT,
        "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-03-10T00:00:00Z",
        "targets": [{"metric": "conversation_rate", "comparison": "gte", "value": 0.5},
                    {"metric": "pull_index", "comparison": "gte", "value": 0.8}]}, headers=admin).json()["id"]
    events = [{**e, "brand_id": brand, "campaign_id": campaign} for e in conversation()]
    assert client.post("/v1/events", json={"events": events}, headers=admin).json()["accepted"] == len(events)
    labels = {e["id"]: e["enrichment"].get("sentiment_label") for e in client.get(
        "/v1/events", params={"kind": "mention", "limit": 100}, headers=admin).json()["data"]}
    assert set(labels.values()) == {"positive"}, labels  # the ambassador rule reads sentiment
    assert run_job(client, admin, brand)["status"] == "succeeded"
    return {"brand": brand, "campaign": campaign, "tribe": fans}


def test_every_metric_of_the_campaign(client: TestClient[Any], admin: dict[str, str], scored: dict[str, Any]) -> None:
    card = client.get("/v1/scorecards", params={"brand_id": scored["brand"], "campaign_id": scored["campaign"]},
                      headers=admin).json()
    assert card["period"] == {"from": "2026-03-01", "to": "2026-03-10"}  # it ends at midnight of 03-10
    assert values(card) == EXPECTED
    by_name = {m["name"]: m for m in card["metrics"]}
    assert by_name["reply_back_rate"]["numerator"] == 2 and by_name["reply_back_rate"]["denominator"] == 7
    # A rate's two parts; how many values a median is over; nothing for a count.
    parts = {name: (by_name[name]["numerator"], by_name[name]["denominator"])
             for name in ("followers_gained", "returning_members", "likes", "median_response_minutes")}
    assert parts == {"followers_gained": (None, None), "returning_members": (None, None), "likes": (None, None),
                     "median_response_minutes": (None, 2)}
    assert (by_name["conversation_rate"]["target"], by_name["conversation_rate"]["met"]) == (0.5, True)
    assert (by_name["pull_index"]["target"], by_name["pull_index"]["met"]) == (0.8, False)
    assert {m["family"] for m in card["metrics"]} == {"vanity", "relationship", "pushpull"}
    assert card["fresh_as_of"] is not None and card["errors"] == []


def test_rates_with_nothing_to_divide_are_null(client: TestClient[Any], admin: dict[str, str],
                                               scored: dict[str, Any]) -> None:
    card = client.get("/v1/scorecards", params={"brand_id": scored["brand"], "from": "2027-01-01",
                                                "to": "2027-02-01"}, headers=admin).json()
    got = values(card)
    for rate in ("applause_rate", "conversation_rate", "reply_back_rate", "pull_index", "megaphone_index",
                 "community_care_share", "member_to_member_share", "median_response_minutes"):
        assert got[rate] is None, rate
    assert got["likes"] == 0.0


def test_tribe_scope_counts_its_members_events(client: TestClient[Any], admin: dict[str, str],
                                               scored: dict[str, Any]) -> None:
    card = client.get("/v1/scorecards", params={"brand_id": scored["brand"], "campaign_id": scored["campaign"],
                                                "tribe_id": scored["tribe"]}, headers=admin).json()
    got = values(card)
    assert (got["active_members"], got["thanks"], got["ambassadors"], got["returning_members"]) == (1, 1, 1, 1)
    assert got["median_response_minutes"] == 30.0  # one answered message, Anna's E3: the middle of an odd count


def test_series_and_rebuild_agree(client: TestClient[Any], admin: dict[str, str], scored: dict[str, Any]) -> None:
    params = {"brand_id": scored["brand"], "campaign_id": scored["campaign"], "granularity": "day"}
    card = client.get("/v1/scorecards", params=params, headers=admin).json()
    assert len(card["series"]) == 9  # 03-01 to 03-09: the campaign ends at midnight of 03-10
    march_2 = values(card["series"][1])
    assert card["series"][1]["period"] == {"from": "2026-03-02", "to": "2026-03-03"}
    assert march_2["likes"] == 4 and values(card["series"][0])["likes"] == 0
    before = values(card)
    assert run_job(client, admin, scored["brand"], "scorecards.rebuild")["status"] == "succeeded"
    assert values(client.get("/v1/scorecards", params=params, headers=admin).json()) == before


def test_a_new_kit_message_measures_past_posts_against_it(client: TestClient[Any], admin: dict[str, str],
                                                           scored: dict[str, Any]) -> None:
    params = {"brand_id": scored["brand"], "campaign_id": scored["campaign"]}
    assert values(client.get("/v1/scorecards", params=params, headers=admin).json())["megaphone_index"] == 0.2
    same = client.patch(f"/v1/campaigns/{scored['campaign']}", json={"kit_message": KIT}, headers=admin)
    assert same.status_code == 200
    assert client.get("/v1/scorecards", params=params, headers=admin).json()["pending"] is False
    for kit, megaphone in (("Tea time is the best time of the day", 0.0), (KIT, 0.2)):
        patched = client.patch(f"/v1/campaigns/{scored['campaign']}", json={"kit_message": kit}, headers=admin)
        assert patched.status_code == 200
        assert client.get("/v1/scorecards", params=params, headers=admin).json()["pending"] is True
        assert values(settled(client, admin, params))["megaphone_index"] == megaphone
    # Measured and recounted by the brand's next run: no rebuild.
    jobs = finished_jobs(client, admin)
    assert "scorecards.rebuild" not in [j["kind"] for j in jobs]
    changed = [j["result"]["kit_similarities_changed"] for j in jobs if "kit_similarities_changed" in j["result"]]
    assert sorted(changed) == [1, 1]  # the one copy of the kit, twice


def _fact_rows(database_url: str, brand_id: str) -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        db = Database.from_settings(Settings(database_url=database_url))
        try:
            async with db.reading() as conn:
                rows = await conn.execute(sa.text("SELECT e.id, f.tribe FROM event_facts f JOIN events e "
                                                  "ON e.seq = f.seq WHERE f.brand_id = :b"), {"b": brand_id})
                return sorted((r.id, r.tribe) for r in rows)
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_only_events_with_links_keep_fact_rows(client: TestClient[Any], admin: dict[str, str], database_url: str,
                                               scored: dict[str, Any]) -> None:
    # Answered by the brand (E3, E6), replying to another member (E4, E8, E10), a question the
    # community answered (E9); likes, impressions, mentions and unanswered comments have none.
    # E3 is Anna's, so it counts for her tribe too.
    expected = sorted([("E3", "*"), ("E3", scored["tribe"]), ("E4", "*"), ("E6", "*"), ("E8", "*"),
                       ("E9", "*"), ("E10", "*")])
    assert _fact_rows(database_url, scored["brand"]) == expected
    assert run_job(client, admin, scored["brand"], "scorecards.rebuild")["status"] == "succeeded"
    assert _fact_rows(database_url, scored["brand"]) == expected


def test_compare_campaigns_and_bad_scopes(client: TestClient[Any], admin: dict[str, str],
                                          scored: dict[str, Any]) -> None:
    other = client.post("/v1/campaigns", json={"brand_id": scored["brand"], "name": "Push", "mode": "push"},
                        headers=admin).json()["id"]
    compared = client.get("/v1/scorecards/compare", params=[("campaign_id", scored["campaign"]),
                                                           ("campaign_id", other)], headers=admin).json()
    assert [c["scope"]["campaign_id"] for c in compared["scorecards"]] == [scored["campaign"], other]
    assert values(compared["scorecards"][0])["pull_index"] == 0.75
    narrowed = client.get("/v1/scorecards/compare", params=[
        ("campaign_id", scored["campaign"]), ("campaign_id", other), ("brand_id", scored["brand"]),
        ("network", "instagram"), ("granularity", "week")], headers=admin).json()["scorecards"]
    assert [(c["scope"]["network"], c["granularity"]) for c in narrowed] == [("instagram", "week")] * 2
    assert values(narrowed[0])["likes"] == 0 and len(narrowed[0]["series"]) == 3  # 03-01, 03-02 to 03-09, 03-09
    elsewhere = client.post("/v1/brands", json={"name": "Other"}, headers=admin).json()["id"]
    for params, pointer in (([("campaign_id", scored["campaign"]), ("brand_id", elsewhere)], "/campaign_id/0"),
                            ([("campaign_id", other), ("campaign_id", other)], "/campaign_id/1")):
        refused = client.get("/v1/scorecards/compare", params=params, headers=admin)
        assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == pointer, refused.text
    repeated = client.get("/v1/scorecards/compare", params=[("campaign_id", other)] * 21, headers=admin).json()
    assert [(e["pointer"], e["message"]) for e in repeated["errors"]] == [
        ("/campaign_id/1", f"{other!r} is given 21 times; give it once.")]
    neither = client.get("/v1/scorecards/compare", params={"brand_id": scored["brand"]}, headers=admin).json()
    assert neither["errors"][0]["message"].startswith("Give the campaigns (campaign_id) or the tribes (tribe_id)")
    tribes = client.get("/v1/scorecards/compare", params=[("brand_id", scored["brand"]), ("tribe_id", scored["tribe"]),
                                                         ("tribe_id", "trb_x")], headers=admin)
    assert tribes.status_code == 422 and tribes.json()["errors"][0]["pointer"] == "/tribe_id/1"
    unknown = client.get("/v1/scorecards/compare", params={"campaign_id": other, "brand_id": "brd_nope"},
                         headers=admin)
    assert unknown.status_code == 404
    assert client.get("/v1/scorecards", params={"brand_id": scored["brand"], "tribe_id": "trb_x"},
                      headers=admin).status_code == 422
    assert client.get("/v1/scorecards", params={"brand_id": "brd_nope"}, headers=admin).status_code == 404
    bad = client.get("/v1/scorecards", params={"brand_id": scored["brand"], "from": "2026-03-05",
                                               "to": "2026-03-01"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/to"


def test_a_period_left_out_never_blames_a_bound_not_given(client: TestClient[Any], admin: dict[str, str],
                                                          scored: dict[str, Any]) -> None:
    brand, campaign = scored["brand"], scored["campaign"]
    typo = _e("OLD1", "comment", "zed", "2001-09-15T08:07:00Z", "z1", None, "Dated decades back")
    sent = client.post("/v1/events", json={"events": [{**typo, "brand_id": brand}]}, headers=admin).json()
    assert sent["accepted"] == 1
    assert run_job(client, admin, brand)["status"] == "succeeded"

    def period(**params: str) -> Any:
        response = client.get("/v1/scorecards", params={"brand_id": brand, **params}, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()["period"]

    # The brand's data spans 2001 to 2026-03-15: its latest ten years (3,660 days).
    assert period() == {"from": "2016-03-08", "to": "2026-03-16"}
    assert period(tribe_id=scored["tribe"]) == {"from": "2026-02-20", "to": "2026-03-16"}  # Anna's events only
    # One bound given: the other is the campaign's unless on its wrong side, then the data's.
    assert period(campaign_id=campaign, **{"from": "2026-03-05"}) == {"from": "2026-03-05", "to": "2026-03-10"}
    assert period(campaign_id=campaign, **{"from": "2026-03-12"}) == {"from": "2026-03-12", "to": "2026-03-16"}
    assert period(campaign_id=campaign, to="2026-02-25") == {"from": "2026-02-20", "to": "2026-02-25"}
    # ... and where the data is too, the day next to the given bound.
    assert period(to="1900-01-01") == {"from": "1899-12-31", "to": "1900-01-01"}
    assert period(campaign_id=campaign, **{"from": "2026-04-01"})["to"] == "2026-04-02"
    assert period(**{"from": "2000-01-01"}) == {"from": "2000-01-01", "to": "2010-01-08"}  # ten years from it
    # Both given: the client's own to answer for.
    too_long = client.get("/v1/scorecards", params={"brand_id": brand, "from": "1900-01-01", "to": "2026-01-01"},
                          headers=admin)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["pointer"] == "/to"


def test_compared_tribes_share_one_period_so_that_their_series_line_up(
        client: TestClient[Any], admin: dict[str, str], scored: dict[str, Any]) -> None:
    brand = scored["brand"]
    later = client.post("/v1/tribes", json={"brand_id": brand, "name": "Latecomers"}, headers=admin).json()["id"]
    event = {**_e("LATE1", "comment", "zoe", "2026-04-15T10:00:00Z", "z9", "B1", "Back again"), "brand_id": brand,
             "tribe_id": later}
    assert client.post("/v1/events", json={"events": [event]}, headers=admin).json()["accepted"] == 1
    assert run_job(client, admin, brand)["status"] == "succeeded"
    alone = [client.get("/v1/scorecards", params={"brand_id": brand, "tribe_id": tribe}, headers=admin).json()["period"]
             for tribe in (scored["tribe"], later)]
    assert alone == [{"from": "2026-02-20", "to": "2026-03-16"}, {"from": "2026-04-15", "to": "2026-04-16"}]
    cards = client.get("/v1/scorecards/compare", params=[("brand_id", brand), ("tribe_id", scored["tribe"]),
                                                         ("tribe_id", later), ("granularity", "week")],
                       headers=admin).json()["scorecards"]
    assert [c["period"] for c in cards] == [{"from": "2026-02-20", "to": "2026-04-16"}] * 2
    assert [[p["period"] for p in c["series"]] for c in cards][0] == [p["period"] for p in cards[1]["series"]]
    assert [values(c)["active_members"] for c in cards] == [1, 1]


def test_a_series_over_a_period_left_out_keeps_its_latest_points(client: TestClient[Any],
                                                                  admin: dict[str, str]) -> None:
    brand = client.post("/v1/brands", json={"name": "Old", "handles": {"x": "acme"}}, headers=admin).json()["id"]
    events = [{**_e(f"S{i}", "comment", "anna", at, f"s{i}"), "brand_id": brand}
              for i, at in enumerate(("2024-01-01T10:00:00Z", "2026-03-15T10:00:00Z"))]
    assert client.post("/v1/events", json={"events": events}, headers=admin).json()["accepted"] == 2
    assert run_job(client, admin, brand)["status"] == "succeeded"

    def card(**params: str) -> Any:
        response = client.get("/v1/scorecards", params={"brand_id": brand, **params}, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()

    assert card(granularity="week")["period"] == {"from": "2024-01-01", "to": "2026-03-16"}  # 116 weeks: all
    daily = card(granularity="day")
    assert daily["period"] == {"from": "2025-02-09", "to": "2026-03-16"} and len(daily["series"]) == 400
    assert card(granularity="day", **{"from": "2024-01-01"})["period"] == {"from": "2024-01-01", "to": "2025-02-04"}
    both = client.get("/v1/scorecards", params={"brand_id": brand, "granularity": "day", "from": "2024-01-01",
                                                "to": "2026-03-16"}, headers=admin)  # the client's own period
    assert both.status_code == 422 and both.json()["errors"][0]["pointer"] == "/granularity"


def test_returning_members_in_every_bucket_of_a_series(client: TestClient[Any], admin: dict[str, str]) -> None:
    brand = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "acme"}}, headers=admin).json()["id"]
    active = {"anna": ("03-02", "03-09", "03-20"), "bob": ("03-09", "04-02"), "carla": ("03-20", "04-03"),
              "dan": ("04-02",), "bobby": ("03-09",)}  # Bob's second account, merged below
    events = [_e(f"{who}{day}", "comment", who, f"2026-{day}T10:00:00Z", f"p-{who}{day}", "B1")
              for who, days in active.items() for day in days]
    events.append(_e("like", "like", "dan", "2026-03-10T10:00:00Z", None, "B1"))  # a like: not taking part
    events = [{**e, "brand_id": brand} for e in events]
    assert client.post("/v1/events", json={"events": events}, headers=admin).json()["accepted"] == len(events)
    assert run_job(client, admin, brand)["status"] == "succeeded"
    members = {m["identities"][0]["handle"]: m["id"] for m in client.get(
        "/v1/members", params={"limit": 100}, headers=admin).json()["data"]}
    merged = client.post(f"/v1/members/{members['bob']}/merge", json={"member_id": members["bobby"]}, headers=admin)
    assert merged.status_code == 200  # Bobby's days stay behind with nothing active

    def returning(card: dict[str, Any]) -> list[tuple[str, float, float]]:
        found = [(p["period"]["from"], values(p)["returning_members"], values(p)["active_members"])
                 for p in card["series"]]
        assert all(isinstance(v, float) for _, *counts in found for v in counts), found  # 0.0 in JSON, not 0
        return found

    def card(since: str, until: str, granularity: str) -> dict[str, Any]:
        params = {"brand_id": brand, "from": since, "to": until, "granularity": granularity}
        got: dict[str, Any] = client.get("/v1/scorecards", params=params, headers=admin).json()
        return got

    # Nobody was active before March: the whole period counts no one as returning, its buckets do.
    months = card("2026-03-01", "2026-05-01", "month")
    assert values(months)["returning_members"] == 0
    assert returning(months) == [("2026-03-01", 0, 3), ("2026-04-01", 2, 3)]  # Bob and Carla; Dan is new
    weeks = card("2026-03-01", "2026-04-06", "week")
    assert returning(weeks) == [("2026-03-01", 0, 0), ("2026-03-02", 0, 1), ("2026-03-09", 1, 2),
                                ("2026-03-16", 1, 2), ("2026-03-23", 0, 0), ("2026-03-30", 2, 3)]
    later = card("2026-03-09", "2026-04-06", "week")
    assert values(later)["returning_members"] == 1  # Anna
    assert returning(later) == [("2026-03-09", 1, 2), ("2026-03-16", 1, 2), ("2026-03-23", 0, 0),
                                ("2026-03-30", 2, 3)]
    # Each bucket says what a scorecard of that bucket alone says.
    for point in weeks["series"] + months["series"]:
        alone = card(point["period"]["from"], point["period"]["to"], "total")
        assert values(alone) == values(point), point["period"]


@pytest.mark.parametrize(("minutes", "median"), [((10, 20, 60), 20.0), ((10, 20, 60, 90), 40.0), ((7,), 7.0)])
def test_median_response_minutes_of_odd_and_even_counts(client: TestClient[Any], admin: dict[str, str],
                                                        minutes: tuple[int, ...], median: float) -> None:
    brand = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "acme"}}, headers=admin).json()["id"]
    events = []
    for i, after in enumerate(minutes):
        events.append(_e(f"m{i}", "comment", f"fan{i}", "2026-03-02T10:00:00Z", f"m{i}", "B1", "Hello"))
        events.append(_e(f"r{i}", "reply", "acme", f"2026-03-02T{10 + after // 60:02}:{after % 60:02}:00Z",
                         f"r{i}", f"m{i}", "Hi"))
    events = [{**e, "brand_id": brand} for e in events]
    assert client.post("/v1/events", json={"events": events}, headers=admin).json()["accepted"] == len(events)
    assert run_job(client, admin, brand)["status"] == "succeeded"
    card = client.get("/v1/scorecards", params={"brand_id": brand}, headers=admin).json()
    by_name = {m["name"]: m for m in card["metrics"]}
    assert (by_name["median_response_minutes"]["value"], by_name["median_response_minutes"]["denominator"]) == (
        median, len(minutes))


@pytest.mark.parametrize("kind", ["scorecards.aggregate", "scorecards.rebuild"])
def test_community_care_counts_questions_whose_first_answer_is_another_members(
        client: TestClient[Any], admin: dict[str, str], kind: str) -> None:
    d = "2026-03-02T"
    events = [
        _e("Q1", "question", "carla", d + "10:00:00Z", "Q1", None, "How do you brew it?"),
        _e("A2", "answer", "dan", d + "10:10:00Z", "A2", "Q1", "Moka pot"),
        _e("Q2", "question", "erin", d + "11:00:00Z", "Q2", None, "Where can I buy beans?"),
        _e("A3", "answer", "dan", d + "11:05:00Z", "A3", "Q2", "Downtown"),  # the community first
        _e("A4", "reply", "acme", d + "11:30:00Z", "A4", "Q2", "At our shop"),
        _e("Q3", "question", "fay", d + "12:00:00Z", "Q3", None, "Decaf?"),
        _e("A5", "reply", "acme", d + "12:05:00Z", "A5", "Q3", "Yes"),  # the brand first
        _e("A6", "answer", "dan", d + "12:10:00Z", "A6", "Q3", "Yes, and it is good"),
        _e("Q4", "question", "gus", d + "13:00:00Z", "Q4", None, "Oat milk?"),  # never answered
    ]
    brand = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "acme"}}, headers=admin).json()["id"]
    late = [_e("A1", "reply", "carla", d + "10:05:00Z", "A1", "Q1", "I mean at home")]  # the asker's, first
    # Carla's answer stored after Dan's later one: the first answer is the earliest, not the first stored.
    for batch in (events, late):
        batch = [{**e, "brand_id": brand} for e in batch]
        assert client.post("/v1/events", json={"events": batch}, headers=admin).json()["accepted"] == len(batch)
    assert run_job(client, admin, brand, kind)["status"] == "succeeded"
    card = client.get("/v1/scorecards", params={"brand_id": brand}, headers=admin).json()
    care = {m["name"]: m for m in card["metrics"]}["community_care_share"]
    assert (care["numerator"], care["denominator"]) == (1, 3)


def test_a_deleted_campaigns_kit_copies_stop_counting_without_a_rebuild(client: TestClient[Any], admin: dict[str, str],
                                                                        scored: dict[str, Any]) -> None:
    brand = scored["brand"]

    def megaphone() -> Any:
        card = client.get("/v1/scorecards", params={"brand_id": brand}, headers=admin).json()
        return next((m["numerator"], m["denominator"]) for m in card["metrics"] if m["name"] == "megaphone_index")

    assert megaphone()[0] == 1  # Frank's copy of the kit
    assert client.delete(f"/v1/campaigns/{scored['campaign']}", headers=admin).status_code == 204
    assert run_job(client, admin, brand)["result"]["kit_similarities_changed"] > 0
    assert megaphone() == (0, 0)
    assert run_job(client, admin, brand, "scorecards.rebuild")["status"] == "succeeded"
    assert megaphone() == (0, 0)  # as the rebuild counts them


def test_a_blank_text_is_no_text_for_the_megaphone(client: TestClient[Any], admin: dict[str, str]) -> None:
    brand = client.post("/v1/brands", json={"name": "Blank", "handles": {"x": "acme"}}, headers=admin).json()["id"]
    campaign = client.post("/v1/campaigns", json={"brand_id": brand, "name": "C", "mode": "push", "kit_message": KIT},
                           headers=admin).json()["id"]
    shares = [{**_e(f"B{i}", "share", f"fan{i}", "2026-03-02T10:00:00Z", f"s{i}", None, text), "brand_id": brand,
               "campaign_id": campaign} for i, text in enumerate(("   ", KIT, "\n\t"))]
    assert client.post("/v1/events", json={"events": shares}, headers=admin).json()["accepted"] == 3

    def megaphone() -> Any:
        card = client.get("/v1/scorecards", params={"brand_id": brand}, headers=admin).json()
        return next((m["value"], m["numerator"], m["denominator"]) for m in card["metrics"]
                    if m["name"] == "megaphone_index")

    run_job(client, admin, brand)
    assert megaphone() == (1.0, 1, 1)
    assert client.patch(f"/v1/campaigns/{campaign}", json={"kit_message": KIT + " today"},
                        headers=admin).status_code == 200
    run_job(client, admin, brand)  # measured again against the new message: the blanks still are not texts
    assert megaphone()[2] == 1
