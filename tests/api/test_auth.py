"""Authentication (401) and the scope matrix (403)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from litestar.testing import TestClient

from ..conftest import bearer
from .routes import make_objects

# (method, path, body, scope needed)
OPERATIONS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/brands", None, "read"),
    ("GET", "/v1/brands/{brands}", None, "read"),
    ("POST", "/v1/brands", {"name": "New"}, "write"),
    ("PATCH", "/v1/brands/{brands}", {"name": "New"}, "write"),
    ("DELETE", "/v1/brands/{brands}", None, "write"),
    ("GET", "/v1/tribes", None, "read"),
    ("POST", "/v1/tribes", {"brand_id": "{brands}", "name": "New"}, "write"),
    ("PATCH", "/v1/tribes/{tribes}", {"name": "New"}, "write"),
    ("GET", "/v1/campaigns/{campaigns}", None, "read"),
    ("POST", "/v1/campaigns", {"brand_id": "{brands}", "name": "New", "mode": "push"}, "write"),
    ("DELETE", "/v1/campaigns/{campaigns}", None, "write"),
    ("GET", "/v1/api-keys", None, "admin"),
    ("POST", "/v1/api-keys", {"name": "k", "scopes": ["read"]}, "admin"),
    ("DELETE", "/v1/api-keys/{api-keys}", None, "admin"),
]
GRANTS = {"read": {"read"}, "write": {"read", "write"}, "ingest": set(), "admin": {"read", "write", "admin"}}


@pytest.mark.parametrize("scope", ["read", "write", "ingest", "admin"])
@pytest.mark.parametrize(("method", "template", "body", "needed"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS])
def test_scope_matrix(client: TestClient[Any], new_key: Callable[..., str], scope: str, method: str, template: str,
                      body: dict[str, Any] | None, needed: str) -> None:
    workspace = f"scopes-{scope}-{abs(hash((method, template)))}"
    objects = make_objects(client, bearer(new_key(workspace)))
    headers = bearer(new_key(workspace, scopes=(scope,)))
    payload = {k: v.format(**objects) if isinstance(v, str) else v for k, v in (body or {}).items()} or None
    response = client.request(method, template.format(**objects), json=payload, headers=headers)
    if needed in GRANTS[scope]:
        assert response.status_code < 400, response.text
    else:
        assert response.status_code == 403, response.text
        assert needed in response.json()["detail"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer tro_abc_def",
                                    "Bearer tro_" + "a" * 12 + "_" + "b" * 43])
def test_missing_or_bad_key_is_401(client: TestClient[Any], header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/v1/brands", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_401_comes_before_body_validation(client: TestClient[Any]) -> None:
    assert client.post("/v1/brands", json={"bad": 1}).status_code == 401


def test_keys_are_listed_without_secrets_and_revocation_is_immediate(client: TestClient[Any],
                                                                     admin: dict[str, str]) -> None:
    created = client.post("/v1/api-keys", json={"name": "ci", "scopes": ["read", "read", "write"]}, headers=admin)
    assert created.status_code == 201
    key = created.json()
    assert key["secret"].startswith(key["prefix"] + "_") and key["scopes"] == ["read", "write"]
    assert client.get("/v1/brands", headers=bearer(key["secret"])).status_code == 200
    listed = client.get("/v1/api-keys", headers=admin).json()["data"]
    assert key["id"] in {k["id"] for k in listed} and all("secret" not in k for k in listed)
    assert key["secret"] not in client.get(f"/v1/api-keys/{key['id']}", headers=admin).text
    revoked = client.delete(f"/v1/api-keys/{key['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/v1/brands", headers=bearer(key["secret"])).status_code == 401


def test_bad_scope_names_are_refused(client: TestClient[Any], admin: dict[str, str]) -> None:
    response = client.post("/v1/api-keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/scopes/0"
    response = client.post("/v1/api-keys", json={"name": "x", "scopes": []}, headers=admin)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/scopes"
