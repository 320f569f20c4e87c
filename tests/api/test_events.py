"""Event ingestion through the API: per-item results, origin and paid, reading and export."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from tribeops.testing.events import EventBuilder

from ..conftest import bearer


def test_three_new_one_repeated_one_invalid(client: TestClient[Any], admin: dict[str, str],
                                            brand: dict[str, Any]) -> None:
    ev = EventBuilder(brand["id"])
    first = ev.post(actor="acme")
    batch = [first, ev.comment(in_reply_to=first["post_id"]), ev.like(), dict(first),
             {**ev.like(), "occurred_at": "yesterday"}]
    response = client.post("/v1/events", json={"events": batch}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"accepted", "duplicates", "rejected"}
    assert (body["accepted"], body["duplicates"]) == (3, 1)
    assert [(r["index"], r["errors"][0]["pointer"]) for r in body["rejected"]] == [(4, "/occurred_at")]
    again = client.post("/v1/events", json={"events": batch}, headers=admin).json()
    assert (again["accepted"], again["duplicates"], len(again["rejected"])) == (0, 4, 1)


def test_every_per_item_rejection_names_its_field(client: TestClient[Any], admin: dict[str, str],
                                                  brand: dict[str, Any], new_key: Any) -> None:
    theirs = client.post("/v1/brands", json={"name": "Theirs"}, headers=bearer(new_key())).json()["id"]
    other_brand = client.post("/v1/brands", json={"name": "Sister"}, headers=admin).json()["id"]
    campaign = client.post("/v1/campaigns", json={"brand_id": other_brand, "name": "C", "mode": "push"},
                           headers=admin).json()["id"]
    ev = EventBuilder(brand["id"])
    items = [
        {**ev.like(), "brand_id": theirs},
        {**ev.like(), "campaign_id": campaign},
        {**ev.like(), "kind": "teleport"},
        {**ev.like(), "occurred_at": "2099-01-01T00:00:00Z"},
        {**ev.like(), "occurred_at": "1970-01-01T00:00:00Z"},  # a zero timestamp
        {**ev.like(), "surprise": 1},
        ev.like(),
        {**ev.like(), "occurred_at": "2000-01-01T00:00:00Z"},
    ]
    body = client.post("/v1/events", json={"events": items}, headers=admin).json()
    assert body["accepted"] == 2
    assert [r["errors"][0]["pointer"] for r in body["rejected"]] == [
        "/brand_id", "/campaign_id", "/kind", "/occurred_at", "/occurred_at", "/surprise"]
    assert body["rejected"][4]["errors"][0]["message"] == "Before 2000-01-01: not a date any network gives."


def test_malformed_envelopes_store_nothing(client: TestClient[Any], admin: dict[str, str],
                                           brand: dict[str, Any]) -> None:
    ev = EventBuilder(brand["id"])
    for body in ({"event": [ev.like()]}, {"events": "x"}, {"events": []}, [ev.like()],
                 {"events": [ev.like() for _ in range(1001)]}):
        response = client.post("/v1/events", json=body, headers=admin)
        assert response.status_code == 422, body
    assert client.get("/v1/events", params={"brand_id": brand["id"]}, headers=admin).json()["data"] == []


def test_origin_paid_and_reading_back(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any]) -> None:
    ev = EventBuilder(brand["id"])
    items = [ev.post(actor="@ACME", text="New roast"), ev.post(actor="anna", text="Love it #ad"),
             ev.post(actor="bob", text="Sponsored by nobody", paid=True), ev.post(actor="carl", text="#adventure")]
    assert client.post("/v1/events", json={"events": items}, headers=admin).json()["accepted"] == 4
    stored = {e["id"]: e for e in client.get("/v1/events", params={"brand_id": brand["id"]}, headers=admin)
              .json()["data"]}
    got = [(stored[i["id"]]["origin"], stored[i["id"]]["paid"]) for i in items]
    assert got == [("brand", False), ("member", True), ("member", True), ("member", False)]
    brand_only = client.get("/v1/events", params={"origin": "brand"}, headers=admin).json()["data"]
    assert [e["id"] for e in brand_only] == [items[0]["id"]]


def test_filters_pagination_and_export(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any]) -> None:
    ev = EventBuilder(brand["id"])
    items = [ev.like(network="x") for _ in range(5)] + [ev.comment(network="instagram") for _ in range(3)]
    client.post("/v1/events", json={"events": items}, headers=admin)
    page = client.get("/v1/events", params={"network": "x", "limit": 2}, headers=admin).json()
    assert len(page["data"]) == 2 and page["has_more"]
    rest = client.get("/v1/events", params={"network": "x", "limit": 10, "starting_after": page["next_cursor"]},
                      headers=admin).json()
    assert len(rest["data"]) == 3 and not rest["has_more"]
    since = client.get("/v1/events", params={"since": items[6]["occurred_at"]}, headers=admin).json()["data"]
    assert {e["id"] for e in since} == {items[6]["id"], items[7]["id"]}
    export = client.get("/v1/events/export", params={"kind": "comment"}, headers=admin)
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [e["id"] for e in lines] == [i["id"] for i in items[5:]]


def test_another_workspace_can_neither_write_nor_read(client: TestClient[Any], admin: dict[str, str],
                                                      brand: dict[str, Any], new_key: Any) -> None:
    other = bearer(new_key())
    ev = EventBuilder(brand["id"])
    body = client.post("/v1/events", json={"events": [ev.like()]}, headers=other).json()
    assert body["accepted"] == 0 and body["rejected"][0]["errors"][0]["pointer"] == "/brand_id"
    client.post("/v1/events", json={"events": [ev.like()]}, headers=admin)
    assert client.get("/v1/events", params={"brand_id": brand["id"]}, headers=other).json()["data"] == []
    assert client.get("/v1/events/export", headers=other).text == ""


def test_same_id_in_two_workspaces_is_two_events(client: TestClient[Any], new_key: Any) -> None:
    for _ in range(2):
        headers = bearer(new_key())
        brand = client.post("/v1/brands", json={"name": "B"}, headers=headers).json()["id"]
        event = {**EventBuilder(brand).like(), "id": "shared-id"}
        assert client.post("/v1/events", json={"events": [event]}, headers=headers).json()["accepted"] == 1


def test_ingest_scope_is_needed(client: TestClient[Any], new_key: Any, brand: dict[str, Any]) -> None:
    read_only = bearer(new_key(scopes=("read", "write")))
    assert client.post("/v1/events", json={"events": [EventBuilder(brand["id"]).like()]},
                       headers=read_only).status_code == 403
    ingest_only = bearer(new_key(scopes=("ingest",)))
    assert client.get("/v1/events", headers=ingest_only).status_code == 403
