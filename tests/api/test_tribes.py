"""Tribes: kinds, strategy, membership rules, and the brand they belong to."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient


def test_create_with_strategy_and_rules(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any]) -> None:
    body = {"brand_id": brand["id"], "name": "Home baristas", "kind": "customers", "description": "Brewers",
            "strategy": {"mode": "pull", "goals": ["members answer each other"], "networks": ["reddit"]},
            "rules": {"handles": ["@anna"], "hashtags": ["homebarista"], "keywords": ["latte art"]}}
    response = client.post("/v1/tribes", json=body, headers=admin)
    assert response.status_code == 201, response.text
    tribe = response.json()
    assert tribe["id"].startswith("trb_") and response.headers["location"] == f"/v1/tribes/{tribe['id']}"
    assert tribe["strategy"] == body["strategy"] and tribe["rules"] == body["rules"]
    assert tribe["kind"] == "customers"


def test_defaults_and_kinds(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any]) -> None:
    tribe = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "T"}, headers=admin).json()
    assert tribe["kind"] == "custom" and tribe["strategy"]["mode"] == "pull" and tribe["rules"]["handles"] == []
    for kind in ("customers", "employees", "prospects", "talent", "investors", "fans", "partners", "custom"):
        response = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": kind, "kind": kind},
                               headers=admin)
        assert response.status_code == 201
    response = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "x", "kind": "trolls"},
                           headers=admin)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/kind"


def test_brand_must_be_one_of_the_workspace(client: TestClient[Any], admin: dict[str, str],
                                            new_key: Any) -> None:
    from ..conftest import bearer

    other = bearer(new_key())
    foreign = client.post("/v1/brands", json={"name": "Theirs"}, headers=other).json()
    response = client.post("/v1/tribes", json={"brand_id": foreign["id"], "name": "T"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"pointer": "/brand_id", "message": response.json()["errors"][0]["message"]}]
    assert client.get("/v1/tribes", params={"brand_id": foreign["id"]}, headers=other).json()["data"] == []


def test_filter_by_brand_and_patch(client: TestClient[Any], admin: dict[str, str], brand: dict[str, Any]) -> None:
    other = client.post("/v1/brands", json={"name": "Other"}, headers=admin).json()
    mine = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "A"}, headers=admin).json()
    client.post("/v1/tribes", json={"brand_id": other["id"], "name": "B"}, headers=admin)
    listed = client.get("/v1/tribes", params={"brand_id": brand["id"]}, headers=admin).json()["data"]
    assert [t["id"] for t in listed] == [mine["id"]]
    assert len(client.get("/v1/tribes", headers=admin).json()["data"]) == 2
    patched = client.patch(f"/v1/tribes/{mine['id']}", json={"kind": "fans", "description": None}, headers=admin)
    assert patched.status_code == 200 and patched.json()["kind"] == "fans" and patched.json()["name"] == "A"
    moved = client.patch(f"/v1/tribes/{mine['id']}", json={"brand_id": other["id"]}, headers=admin)
    assert moved.status_code == 422 and moved.json()["errors"][0]["pointer"] == "/brand_id"
