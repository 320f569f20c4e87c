"""Brands: create, read, list, update, delete, and the validation of each field."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient


def test_create_returns_201_with_location_and_the_stored_brand(client: TestClient[Any], admin: dict[str, str]) -> None:
    body = {"name": "Acme Coffee", "identity": {"values": ["craft"], "tone": "warm", "avoided_topics": ["politics"]},
            "handles": {"x": "@acme", "instagram": "acme.coffee"}}
    response = client.post("/v1/brands", json=body, headers=admin)
    assert response.status_code == 201
    brand = response.json()
    assert response.headers["location"] == f"/v1/brands/{brand['id']}"
    assert brand["id"].startswith("brd_") and brand["object"] == "brand"
    assert brand["identity"]["values"] == ["craft"] and brand["identity"]["keywords"] == []
    assert brand["handles"] == {"x": "@acme", "instagram": "acme.coffee"}
    assert client.get(response.headers["location"], headers=admin).json() == brand


def test_patch_changes_only_the_fields_given(client: TestClient[Any], admin: dict[str, str],
                                             brand: dict[str, Any]) -> None:
    response = client.patch(f"/v1/brands/{brand['id']}", json={"name": "Acme 2"}, headers=admin)
    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "Acme 2" and updated["handles"] == brand["handles"]
    assert updated["updated_at"] >= brand["updated_at"] and updated["created_at"] == brand["created_at"]
    replaced = client.patch(f"/v1/brands/{brand['id']}", json={"handles": {}}, headers=admin).json()
    assert replaced["handles"] == {} and replaced["name"] == "Acme 2"


def test_delete_removes_the_brand_with_its_tribes_and_campaigns(client: TestClient[Any], admin: dict[str, str],
                                                                brand: dict[str, Any]) -> None:
    tribe = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "Fans"}, headers=admin).json()
    campaign = client.post("/v1/campaigns", json={"brand_id": brand["id"], "name": "C", "mode": "pull"},
                           headers=admin).json()
    assert client.delete(f"/v1/brands/{brand['id']}", headers=admin).status_code == 204
    for path in (f"/v1/brands/{brand['id']}", f"/v1/tribes/{tribe['id']}", f"/v1/campaigns/{campaign['id']}"):
        assert client.get(path, headers=admin).status_code == 404
    assert client.delete(f"/v1/brands/{brand['id']}", headers=admin).status_code == 404


def test_every_bad_field_is_named_in_one_problem(client: TestClient[Any], admin: dict[str, str]) -> None:
    body = {"name": "", "colour": "red", "identity": {"values": ["x" * 101], "mood": 1},
            "handles": {"Not A Network": "a", "x": ""}}
    response = client.post("/v1/brands", json=body, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] and problem["type"] and problem["detail"]
    pointers = {e["pointer"] for e in problem["errors"]}
    assert pointers == {"/name", "/colour", "/identity/values/0", "/identity/mood", "/handles/Not A Network",
                        "/handles/x"}
    assert client.get("/v1/brands", headers=admin).json()["data"] == []


def test_wrong_types_and_missing_fields(client: TestClient[Any], admin: dict[str, str]) -> None:
    problem = client.post("/v1/brands", json={"identity": "nope"}, headers=admin).json()
    assert {e["pointer"] for e in problem["errors"]} == {"/name", "/identity"}
    problem = client.post("/v1/brands", json=[1, 2], headers=admin).json()
    assert problem["status"] == 422 and problem["errors"][0]["pointer"] == ""
    problem = client.patch("/v1/brands/brd_x", json={"name": None}, headers=admin).json()
    assert problem["status"] == 422 and problem["errors"][0]["pointer"] == "/name"


def test_list_paginates_newest_first_with_a_cursor(client: TestClient[Any], admin: dict[str, str]) -> None:
    ids = [client.post("/v1/brands", json={"name": f"b{i}"}, headers=admin).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = client.get("/v1/brands", params=params, headers=admin).json()
        assert page["object"] == "list" and len(page["data"]) <= 2
        seen += [b["id"] for b in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))


def test_list_rejects_bad_limits_and_cursors(client: TestClient[Any], admin: dict[str, str]) -> None:
    for limit in (0, 101, "ten"):
        response = client.get("/v1/brands", params={"limit": limit}, headers=admin)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/limit"
        assert response.json()["errors"][0]["in"] == "query"
    response = client.get("/v1/brands", params={"starting_after": "garbage"}, headers=admin)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/starting_after"
