"""Every error is an RFC 9457 problem, and nothing internal leaks."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.settings import Settings

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def _is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert PROBLEM_KEYS <= body.keys() and body["status"] == status
    return body


def test_malformed_json_is_a_400_problem(client: TestClient[Any], admin: dict[str, str]) -> None:
    response = client.post("/v1/brands", content=b'{"name": ', headers={**admin, "content-type": "application/json"})
    _is_problem(response, 400)


def test_a_body_of_another_type_is_415_and_no_body_400(client: TestClient[Any], admin: dict[str, str]) -> None:
    body = b'{"name": "Acme"}'
    for media_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post("/v1/brands", content=body, headers={**admin, "content-type": media_type})
        assert media_type in _is_problem(response, 415)["detail"]
        events = client.post("/v1/events", content=b'{"events": []}', headers={**admin, "content-type": media_type})
        _is_problem(events, 415)
    for charset in ("application/json; charset=utf-8", "application/merge-patch+json"):
        assert client.post("/v1/brands", content=body, headers={**admin, "content-type": charset}).status_code == 201
    for empty in (b"", b"  \n"):
        for path in ("/v1/brands", "/v1/jobs", "/v1/events"):
            response = client.post(path, content=empty, headers={**admin, "content-type": "application/json"})
            assert _is_problem(response, 400)["detail"] == "The request needs a JSON body; none was sent."
    assert client.get("/v1/brands", headers={**admin, "content-type": "text/plain"}).status_code == 200


def test_query_parameters_unknown_missing_or_given_twice_are_named(client: TestClient[Any],
                                                                  admin: dict[str, str]) -> None:
    def pointers(response: Any) -> list[tuple[str, str]]:
        return [(e["pointer"], e["in"]) for e in _is_problem(response, 422)["errors"]]

    assert pointers(client.get("/v1/scorecards", headers=admin)) == [("/brand_id", "query")]
    assert pointers(client.get("/v1/brands", params={"limt": 5}, headers=admin)) == [("/limt", "query")]
    assert pointers(client.get("/v1/brands", params=[("limit", 5), ("limit", 6)], headers=admin)) == [
        ("/limit", "query")]
    assert pointers(client.get("/v1/metrics", params={"a/b": 1}, headers=admin)) == [("/a~1b", "query")]
    both = client.get("/v1/scorecards", params=[("brand_id", "brd_1"), ("brand_id", "brd_2"), ("colour", "red")],
                      headers=admin)
    assert sorted(pointers(both)) == [("/brand_id", "query"), ("/colour", "query")]
    # Outside the API's operations, a query string is the caller's business.
    assert client.get("/healthz", params={"probe": 1}).status_code == 200
    assert client.get("/schema/openapi.json", params={"v": 1}).status_code == 200


def test_unknown_route_and_method(client: TestClient[Any], admin: dict[str, str]) -> None:
    _is_problem(client.get("/v1/nothing-here", headers=admin), 404)
    _is_problem(client.put("/v1/brands", json={}, headers=admin), 405)


def test_body_over_the_cap_is_413(database_url: str, new_key: Any) -> None:
    from ..conftest import bearer

    app = create_app(Settings(database_url=database_url, max_body_bytes=1024))
    with TestClient(app) as small:
        response = small.post("/v1/brands", json={"name": "x" * 150, "identity": {"values": ["y" * 90] * 20}},
                              headers=bearer(new_key()))
        _is_problem(response, 413)
        assert response.json()["detail"].startswith("The request body is larger than 1024 bytes")


def test_unexpected_errors_are_500_problems_without_internals(database_url: str) -> None:
    @get("/boom", exclude_from_auth=True)
    async def boom() -> None:
        raise RuntimeError("secret path /etc/passwd and SELECT * FROM api_keys")

    app = create_app(Settings(database_url=database_url))
    app.register(boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
        body = _is_problem(response, 500)
        assert "passwd" not in response.text and "SELECT" not in response.text and "Traceback" not in response.text
        assert body["detail"]


def test_a_database_locked_by_another_writer_is_a_503_to_retry(database_url: str) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    @get("/locked", exclude_from_auth=True)
    async def locked() -> None:
        raise OperationalError("INSERT INTO events ...", {}, sqlite3.OperationalError("database is locked"))

    @get("/locked-driver", exclude_from_auth=True)  # as batches of events, written through the driver, meet it
    async def locked_driver() -> None:
        raise sqlite3.OperationalError("database is locked")

    app = create_app(Settings(database_url=database_url))
    app.register(locked)
    app.register(locked_driver)
    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ("/locked", "/locked-driver"):
            response = c.get(path)
            body = _is_problem(response, 503)
            assert response.headers["retry-after"] == "5" and "busy" in body["detail"] and "INSERT" not in response.text


def test_nul_characters_are_refused_on_every_backend(client: TestClient[Any], admin: dict[str, str]) -> None:
    response = client.post("/v1/brands", json={"name": "A\u0000B", "handles": {"x": "a\u0000"}}, headers=admin)
    body = _is_problem(response, 422)
    assert {e["pointer"] for e in body["errors"]} == {"/name", "/handles/x"}
    brand = client.post("/v1/brands", json={"name": "Fine"}, headers=admin).json()["id"]
    good = {"id": "ok", "brand_id": brand, "network": "x", "kind": "like", "actor": {"id": "1"},
            "occurred_at": "2026-01-01T00:00:00Z"}
    result = client.post("/v1/events", json={"events": [good, {**good, "id": "bad", "text": "a\u0000"}]},
                         headers=admin).json()
    assert result["accepted"] == 1 and result["rejected"][0]["errors"][0]["pointer"] == "/text"
