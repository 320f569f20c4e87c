"""Idempotency-Key on creating POSTs, with Stripe's semantics."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from litestar.testing import TestClient


def _count(client: TestClient[Any], headers: dict[str, str], path: str = "/v1/brands") -> int:
    return len(client.get(path, params={"limit": 100}, headers=headers).json()["data"])


def test_same_key_same_body_replays_and_creates_nothing(client: TestClient[Any], admin: dict[str, str]) -> None:
    headers = {**admin, "Idempotency-Key": "order-1"}
    first = client.post("/v1/brands", json={"name": "Acme", "handles": {"x": "@a"}}, headers=headers)
    again = client.post("/v1/brands", json={"handles": {"x": "@a"}, "name": "Acme"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert _count(client, admin) == 1


def test_a_malformed_key_is_named_as_the_header_it_came_in(client: TestClient[Any], admin: dict[str, str]) -> None:
    for key in ("", "k" * 256):
        response = client.post("/v1/brands", json={"name": "Acme"}, headers={**admin, "Idempotency-Key": key})
        assert response.status_code == 422, key
        assert [(e["pointer"], e["in"]) for e in response.json()["errors"]] == [("/Idempotency-Key", "header")]


def test_same_key_other_body_is_422(client: TestClient[Any], admin: dict[str, str]) -> None:
    headers = {**admin, "Idempotency-Key": "order-2"}
    assert client.post("/v1/brands", json={"name": "Acme"}, headers=headers).status_code == 201
    response = client.post("/v1/brands", json={"name": "Other"}, headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/Idempotency-Key"
    assert _count(client, admin) == 1


def test_failed_validation_stores_nothing(client: TestClient[Any], admin: dict[str, str]) -> None:
    headers = {**admin, "Idempotency-Key": "order-3"}
    assert client.post("/v1/brands", json={"name": ""}, headers=headers).status_code == 422
    response = client.post("/v1/brands", json={"name": "Fixed"}, headers=headers)
    assert response.status_code == 201 and "idempotent-replayed" not in response.headers


def test_keys_are_per_workspace(client: TestClient[Any], admin: dict[str, str], new_key: Any) -> None:
    from ..conftest import bearer

    other = bearer(new_key())
    mine = client.post("/v1/brands", json={"name": "A"}, headers={**admin, "Idempotency-Key": "shared"})
    theirs = client.post("/v1/brands", json={"name": "A"}, headers={**other, "Idempotency-Key": "shared"})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


def test_same_key_on_another_resource_is_422(client: TestClient[Any], admin: dict[str, str],
                                             brand: dict[str, Any]) -> None:
    headers = {**admin, "Idempotency-Key": "order-4"}
    assert client.post("/v1/brands", json={"name": "A"}, headers=headers).status_code == 201
    response = client.post("/v1/tribes", json={"brand_id": brand["id"], "name": "A"}, headers=headers)
    assert response.status_code == 422


def test_concurrent_retries_create_one_object(client: TestClient[Any], admin: dict[str, str]) -> None:
    headers = {**admin, "Idempotency-Key": "burst"}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/brands", json={"name": "B"}, headers=headers),
                                  range(8)))
    assert {r.status_code for r in responses} <= {201, 409}
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
    assert _count(client, admin) == 1


def test_bad_key_header_is_422(client: TestClient[Any], admin: dict[str, str]) -> None:
    response = client.post("/v1/brands", json={"name": "A"}, headers={**admin, "Idempotency-Key": "k" * 300})
    assert response.status_code == 422


def test_an_expired_key_can_be_used_again(database_url: str, new_key: Any) -> None:
    from tribeops.api.app import create_app
    from tribeops.core.settings import Settings

    from ..conftest import bearer

    headers = {**bearer(new_key()), "Idempotency-Key": "old"}
    app = create_app(Settings(database_url=database_url, idempotency_ttl_hours=0))
    with TestClient(app) as short:
        first = short.post("/v1/brands", json={"name": "A"}, headers=headers)
        second = short.post("/v1/brands", json={"name": "B"}, headers=headers)
        assert first.status_code == second.status_code == 201  # a 0-hour window: the key has expired
        assert "idempotent-replayed" not in second.headers and first.json()["id"] != second.json()["id"]


def test_a_retried_job_request_answers_the_first_job(client: TestClient[Any], admin: dict[str, str],
                                                    brand: dict[str, Any]) -> None:
    headers = {**admin, "Idempotency-Key": "rebuild-1"}
    job = {"kind": "scorecards.rebuild", "params": {"brand_id": brand["id"]}}
    first = client.post("/v1/jobs", json=job, headers=headers)
    again = client.post("/v1/jobs", json=job, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["location"] == f"/v1/jobs/{first.json()['id']}"
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert [j["id"] for j in client.get("/v1/jobs", params={"limit": 100}, headers=admin).json()["data"]
            if j["kind"] == "scorecards.rebuild"] == [first.json()["id"]]
    other = client.post("/v1/jobs", json={**job, "kind": "scorecards.aggregate"}, headers=headers)
    assert other.status_code == 422 and other.json()["errors"][0]["pointer"] == "/Idempotency-Key"
