"""Tenant isolation: another workspace's objects are 404 on every route, and absent from lists."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from litestar.testing import TestClient

from ..conftest import bearer
from .routes import ID_ROUTES, LISTS, fill, make_objects


@pytest.fixture
def two_workspaces(client: TestClient[Any], new_key: Callable[..., str]) -> tuple[dict[str, str], dict[str, str],
                                                                                  dict[str, str]]:
    a, b = bearer(new_key()), bearer(new_key())
    return a, b, make_objects(client, a)


@pytest.mark.parametrize(("method", "template", "body"), ID_ROUTES, ids=[f"{m} {p}" for m, p, _ in ID_ROUTES])
def test_other_workspace_gets_404_and_changes_nothing(client: TestClient[Any], two_workspaces: Any, method: str,
                                                       template: str, body: dict[str, Any] | None) -> None:
    a, b, objects = two_workspaces
    path = template.format(**objects)
    owner_view = path.rsplit("/members/", 1)[0] if "/tribes/" in path else path.removesuffix("/merge")
    before = client.get(owner_view, headers=a).json()
    response = client.request(method, path, json=fill(body, objects), headers=b)
    assert response.status_code in (404, 422), response.text
    if response.status_code == 422:  # the body names A's object: B is told it has no such object
        assert response.json()["errors"][0]["pointer"] == "/member_id"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Acme" not in response.text and "Fans" not in response.text
    assert client.get(owner_view, headers=a).json() == before


def test_lists_never_show_another_workspaces_rows(client: TestClient[Any], two_workspaces: Any) -> None:
    a, b, objects = two_workspaces
    for path in LISTS:
        mine = client.get(path, headers=a).json()["data"]
        theirs = client.get(path, headers=b).json()["data"]
        assert mine and not {o["id"] for o in mine} & {o["id"] for o in theirs}, path
        assert path == "/v1/api-keys" or theirs == [], path  # B's only rows are its own key
    for param, value in (("brand_id", objects["brands"]), ("tribe_id", objects["tribes"])):
        assert client.get("/v1/campaigns", params={param: value}, headers=b).json()["data"] == []


def test_a_cursor_is_useless_in_another_workspace(client: TestClient[Any], two_workspaces: Any) -> None:
    a, b, _ = two_workspaces
    client.post("/v1/brands", json={"name": "second"}, headers=a)
    page = client.get("/v1/brands", params={"limit": 1}, headers=a).json()
    assert page["has_more"] and page["next_cursor"]
    response = client.get("/v1/brands", params={"starting_after": page["next_cursor"]}, headers=b)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/starting_after"
    assert client.get("/v1/brands", params={"starting_after": page["next_cursor"]}, headers=a).status_code == 200


def test_cannot_create_children_under_another_workspaces_brand(client: TestClient[Any], two_workspaces: Any) -> None:
    _, b, objects = two_workspaces
    for path, body in (("/v1/tribes", {"brand_id": objects["brands"], "name": "x"}),
                       ("/v1/campaigns", {"brand_id": objects["brands"], "name": "x", "mode": "push"})):
        response = client.post(path, json=body, headers=b)
        assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/brand_id"
