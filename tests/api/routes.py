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
    return {"brands": brand, "tribes": tribe, "campaigns": campaign, "api-keys": key}


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
]

LISTS = ["/v1/brands", "/v1/tribes", "/v1/campaigns", "/v1/api-keys"]
