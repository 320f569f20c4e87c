"""Campaigns: brief, period, targets, the tribes they address, and the filters."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient


def _tribe(client: TestClient[Any], headers: dict[str, str], brand_id: str, name: str = "T") -> str:
    return str(client.post("/v1/tribes", json={"brand_id": brand_id, "name": name}, headers=headers).json()["id"])


def test_create_full_campaign(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any]) -> None:
    tribe = _tribe(client, admin, brand["id"])
    body = {"brand_id": brand["id"], "name": "Morning cup", "mode": "pull",
            "brief": {"what": "Show your cup", "to_whom": [tribe], "why": "Community", "how": "Ask"},
            "kit_message": "Show us your morning cup #MyAcmeMorning", "hashtags": ["MyAcmeMorning"],
            "keywords": ["morning cup"], "networks": ["instagram"], "starts_at": "2026-03-01T00:00:00+01:00",
            "ends_at": "2026-03-31T00:00:00Z", "status": "scheduled",
            "targets": [{"metric": "conversation_rate", "comparison": "gte", "value": 0.2}]}
    response = client.post("/v1/campaigns", json=body, headers=admin)
    assert response.status_code == 201, response.text
    campaign = response.json()
    assert campaign["brief"]["to_whom"] == [tribe]
    assert campaign["starts_at"] == "2026-02-29T23:00:00Z" or campaign["starts_at"].startswith("2026-02-28T23:00")
    assert campaign["targets"] == body["targets"] and campaign["status"] == "scheduled"


def test_period_must_end_after_it_starts(client: TestClient[Any], admin: dict[str, str],
                                         brand: dict[str, Any]) -> None:
    body = {"brand_id": brand["id"], "name": "C", "mode": "push", "starts_at": "2026-03-02T00:00:00Z",
            "ends_at": "2026-03-01T00:00:00Z"}
    response = client.post("/v1/campaigns", json=body, headers=admin)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/ends_at"
    ok = client.post("/v1/campaigns", json={**body, "ends_at": "2026-03-05T00:00:00Z"}, headers=admin).json()
    patched = client.patch(f"/v1/campaigns/{ok['id']}", json={"starts_at": "2026-04-01T00:00:00Z"}, headers=admin)
    assert patched.status_code == 422 and patched.json()["errors"][0]["pointer"] == "/ends_at"
    naive = client.post("/v1/campaigns", json={**body, "starts_at": "2026-03-02T00:00:00"}, headers=admin)
    assert naive.status_code == 422 and naive.json()["errors"][0]["pointer"] == "/starts_at"


def test_targets_are_on_registered_metrics_one_each(client: TestClient[Any], admin: dict[str, str],
                                                   brand: dict[str, Any]) -> None:
    target = {"comparison": "gte", "value": 0.2}
    body = {"brand_id": brand["id"], "name": "C", "mode": "pull",
            "targets": [{"metric": "conversation_rate", **target}, {"metric": "conversation_rates", **target},
                        {"metric": "conversation_rate", **target}]}
    response = client.post("/v1/campaigns", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert [(e["pointer"], e["message"]) for e in response.json()["errors"]] == [
        ("/targets/1/metric", "No metric 'conversation_rates'; GET /v1/metrics lists them."),
        ("/targets/2/metric", "Metric 'conversation_rate' has a target already.")]
    ok = client.post("/v1/campaigns", json={**body, "targets": body["targets"][:1]}, headers=admin).json()
    patched = client.patch(f"/v1/campaigns/{ok['id']}", json={"targets": [{"metric": "nope", **target}]},
                           headers=admin)
    assert patched.status_code == 422 and patched.json()["errors"][0]["pointer"] == "/targets/0/metric"
    assert client.patch(f"/v1/campaigns/{ok['id']}", json={"name": "D"}, headers=admin).status_code == 200


def test_tribes_of_another_brand_are_refused(client: TestClient[Any], admin: dict[str, str],
                                             brand: dict[str, Any]) -> None:
    other = client.post("/v1/brands", json={"name": "Other"}, headers=admin).json()
    mine, theirs = _tribe(client, admin, brand["id"]), _tribe(client, admin, other["id"])
    body = {"brand_id": brand["id"], "name": "C", "mode": "pull", "brief": {"to_whom": [mine, theirs, mine]}}
    response = client.post("/v1/campaigns", json=body, headers=admin)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/brief/to_whom/1", "/brief/to_whom/2"]


def test_filters_by_brand_tribe_and_status(client: TestClient[Any], admin: dict[str, str],
                                           brand: dict[str, Any]) -> None:
    tribe = _tribe(client, admin, brand["id"])
    addressed = client.post("/v1/campaigns", json={"brand_id": brand["id"], "name": "A", "mode": "pull",
                                                   "status": "active", "brief": {"to_whom": [tribe]}},
                            headers=admin).json()
    client.post("/v1/campaigns", json={"brand_id": brand["id"], "name": "B", "mode": "push"}, headers=admin)

    def ids(**params: str) -> list[str]:
        return [c["id"] for c in client.get("/v1/campaigns", params=params, headers=admin).json()["data"]]

    assert ids(tribe_id=tribe) == [addressed["id"]]
    assert ids(status="active") == [addressed["id"]]
    assert len(ids(brand_id=brand["id"])) == 2
    assert client.get("/v1/campaigns", params={"status": "bogus"}, headers=admin).status_code == 422


def test_deleting_a_tribe_takes_it_out_of_briefs(client: TestClient[Any], admin: dict[str, str],
                                                 brand: dict[str, Any]) -> None:
    keep, drop = _tribe(client, admin, brand["id"], "keep"), _tribe(client, admin, brand["id"], "drop")
    campaign = client.post("/v1/campaigns", json={"brand_id": brand["id"], "name": "C", "mode": "pull",
                                                  "brief": {"to_whom": [keep, drop]}}, headers=admin).json()
    assert client.delete(f"/v1/tribes/{drop}", headers=admin).status_code == 204
    assert client.get(f"/v1/campaigns/{campaign['id']}", headers=admin).json()["brief"]["to_whom"] == [keep]
    assert client.get("/v1/campaigns", params={"tribe_id": drop}, headers=admin).json()["data"] == []


def test_patch_brief_relinks_tribes(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any]) -> None:
    first, second = _tribe(client, admin, brand["id"], "1"), _tribe(client, admin, brand["id"], "2")
    campaign = client.post("/v1/campaigns", json={"brand_id": brand["id"], "name": "C", "mode": "pull",
                                                  "brief": {"to_whom": [first]}}, headers=admin).json()
    response = client.patch(f"/v1/campaigns/{campaign['id']}", json={"brief": {"to_whom": [second]}}, headers=admin)
    assert response.status_code == 200 and response.json()["brief"]["to_whom"] == [second]
    listed = client.get("/v1/campaigns", params={"tribe_id": first}, headers=admin).json()["data"]
    assert listed == []
