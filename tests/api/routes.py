"""Every /v1 route with an id, and how to make the object it acts on (for the matrices)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient


def make_objects(client: TestClient[Any], headers: dict[str, str]) -> dict[str, str]:
    """One object of each resource in the workspace of ``headers``: name → id."""
    brand = client.post("/v1/brands", json={"name": "Acme"}, headers=headers).json()["id"]
    tribe = client.post("/v1/tribes", json={"brand_id": brand, "name": "Fans"}, headers=headers).json()["id"]
    campaign = client.post("/v1/campaigns", json={"brand_id": brand, "name": "C", "mode": "pull",
                                                  "brief": {"to_whom": [tribe]}}, headers=headers).json()["id"]
    key = client.post("/v1/api-keys", json={"name": "k", "scopes": ["read"]}, headers=headers).json()["id"]
    connection = client.post("/v1/connections", json={"brand_id": brand, "network": "rss", "name": "Blog", "config": {
        "feed_url": "https://blog.example.com/feed/"}}, headers=headers).json()["id"]
    events = [{"id": f"iso-{i}", "brand_id": brand, "network": "x", "kind": "comment", "text": "Fans #acme",
               "actor": {"id": f"a{i}", "handle": f"a{i}"}, "occurred_at": "2026-01-01T00:00:00Z"} for i in (1, 2)]
    client.post("/v1/events", json={"events": events}, headers=headers)
    members = [m["id"] for m in client.get("/v1/members", headers=headers).json()["data"]]
    client.post(f"/v1/tribes/{tribe}/members", json={"member_id": members[0]}, headers=headers)
    return {"brands": brand, "tribes": tribe, "campaigns": campaign, "api-keys": key, "connections": connection,
            "members": members[0], "other_member": members[1]}


# (method, path template, JSON body) for every route that takes an object id.
ID_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/brands/{brands}", None),
    ("PATCH", "/v1/brands/{brands}", {"name": "Mine now"}),
    ("DELETE", "/v1/brands/{brands}", None),
    ("GET", "/v1/tribes/{tribes}", None),
    ("PATCH", "/v1/tribes/{tribes}", {"name": "Mine now"}),
    ("DELETE", "/v1/tribes/{tribes}", None),
    ("GET", "/v1/campaigns/{campaigns}", None),
    ("PATCH", "/v1/campaigns/{campaigns}", {"name": "Mine now"}),
    ("DELETE", "/v1/campaigns/{campaigns}", None),
    ("GET", "/v1/api-keys/{api-keys}", None),
    ("DELETE", "/v1/api-keys/{api-keys}", None),
    ("GET", "/v1/connections/{connections}", None),
    ("PATCH", "/v1/connections/{connections}", {"name": "Mine now"}),
    ("DELETE", "/v1/connections/{connections}", None),
    ("GET", "/v1/members/{members}", None),
    ("POST", "/v1/members/{members}/merge", {"member_id": "{other_member}"}),
    ("POST", "/v1/tribes/{tribes}/members", {"member_id": "{members}"}),
    ("DELETE", "/v1/tribes/{tribes}/members/{members}", None),
]

LISTS = ["/v1/brands", "/v1/tribes", "/v1/campaigns", "/v1/api-keys", "/v1/connections", "/v1/members",
         "/v1/events"]


def fill(body: dict[str, Any] | None, objects: dict[str, str]) -> dict[str, Any] | None:
    """``body`` with ``{name}`` placeholders replaced by the objects' ids."""
    if body is None:
        return None
    return {k: v.format(**objects) if isinstance(v, str) else v for k, v in body.items()}
