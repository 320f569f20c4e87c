"""Connections: config checked by the connector, syncs that checkpoint per page, signed webhooks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.services.context import Caller
from tribeops.core.settings import Settings
from tribeops.core.sync import PaginationLoop, run_stream

from ..conftest import bearer
from ..fakes import FakePlugin, FakePosts, sign


@pytest.fixture(scope="module")
def fake_client(database_url: str) -> Any:
    app = create_app(Settings(database_url=database_url, key_cache_seconds=0), plugins=[FakePlugin()])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def setup(fake_client: TestClient[Any], new_key: Any) -> tuple[dict[str, str], str, dict[str, Any]]:
    headers = bearer(new_key())
    brand = fake_client.post("/v1/brands", json={"name": "Acme", "handles": {"fakenet": "acme"}},
                             headers=headers).json()["id"]
    conn = fake_client.post("/v1/connections", json={"brand_id": brand, "network": "fakenet", "name": "main",
                                                     "config": {"account": "acme", "webhook_secret": "s3cret",
                                                                "verify_token": "vt"}}, headers=headers)
    assert conn.status_code == 201, conn.text
    return headers, brand, conn.json()


def _sync(client: TestClient[Any], headers: dict[str, str], connection_id: str) -> Any:
    """Run the posts stream in the app's own event loop, as the caller of ``headers``."""
    state = client.app.state.tribeops

    async def run() -> Any:
        caller: Caller | None = await state.keys.resolve(headers["Authorization"].split()[1])
        assert caller is not None
        return await run_stream(state.core, caller, connection_id, "posts")

    with client.portal() as portal:
        return portal.call(run)


def test_config_is_checked_by_the_connector_and_secrets_are_masked(fake_client: TestClient[Any], setup: Any) -> None:
    headers, brand, conn = setup
    assert conn["config"]["webhook_secret"] == "********" and conn["config"]["account"] == "acme"
    bad = fake_client.post("/v1/connections", json={"brand_id": brand, "network": "fakenet", "name": "x",
                                                    "config": {"acount": "typo"}}, headers=headers)
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/config/acount", "/config/account"}
    unknown = fake_client.post("/v1/connections", json={"brand_id": brand, "network": "myspace", "name": "x"},
                               headers=headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/network"


def _page(items: list[dict[str, Any]], nxt: str | None, fans: list[str] | None = None) -> dict[str, Any]:
    return {"items": items, "next": nxt, "fans": fans or []}


def test_sync_stores_each_page_and_checkpoints_the_cursor(fake_client: TestClient[Any], setup: Any) -> None:
    headers, _, conn = setup
    FakePosts.PAGES = {
        None: _page([{"id": "p1", "kind": "post", "by": "acme", "at": "2026-01-01T10:00:00+00:00"}], "t2"),
        "t2": _page([{"id": "c1", "kind": "comment", "by": "anna", "to": "p1", "at": "2026-01-01T11:00:00+00:00"}],
                    None, fans=["bob"]),
    }
    report = _sync(fake_client, headers, conn["id"])
    assert (report.pages, report.accepted, report.members) == (2, 2, 1)
    assert report.cursor == "2026-01-01T11:00:00+00:00"
    state = fake_client.get(f"/v1/connections/{conn['id']}", headers=headers).json()["state"]
    assert state["posts"]["cursor"] == "2026-01-01T11:00:00+00:00"
    again = _sync(fake_client, headers, conn["id"])
    assert again.accepted == 0 and again.duplicates == 2


def test_a_repeated_page_token_stops_the_run_after_the_committed_pages(fake_client: TestClient[Any],
                                                                      setup: Any) -> None:
    headers, _, conn = setup
    FakePosts.PAGES = {
        None: _page([{"id": "a", "kind": "post", "by": "acme", "at": "2026-01-02T10:00:00+00:00"}], "loop"),
        "loop": _page([{"id": "b", "kind": "post", "by": "acme", "at": "2026-01-02T11:00:00+00:00"}], "loop"),
    }
    with pytest.raises(PaginationLoop, match="loop"):
        _sync(fake_client, headers, conn["id"])
    state = fake_client.get(f"/v1/connections/{conn['id']}", headers=headers).json()["state"]
    assert state["posts"]["cursor"] == "2026-01-02T11:00:00+00:00"


def test_webhook_challenge_and_signed_delivery(fake_client: TestClient[Any], setup: Any) -> None:
    headers, _, conn = setup
    url = f"/v1/connections/{conn['id']}/webhook"
    ok = fake_client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "42"})
    assert ok.status_code == 200 and ok.text == "42"
    assert fake_client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "no",
                                        "hub.challenge": "42"}).status_code == 404
    body = json.dumps(_page([{"id": "w1", "kind": "mention", "by": "carla", "at": "2026-01-03T09:00:00Z"}],
                            None)).encode()
    forged = fake_client.post(url, content=body, headers={"X-Hub-Signature-256": sign("wrong", body)})
    assert forged.status_code == 401
    signed = fake_client.post(url, content=body, headers={"X-Hub-Signature-256": sign("s3cret", body)})
    assert signed.status_code == 200 and signed.json()["accepted"] == 1
    assert fake_client.post(f"/v1/connections/con_01JD0000000000000000000000/webhook", content=body,
                            headers={"X-Hub-Signature-256": sign("s3cret", body)}).status_code == 404


def test_connections_are_tenant_scoped(fake_client: TestClient[Any], setup: Any, new_key: Any) -> None:
    _, _, conn = setup
    other = bearer(new_key())
    assert fake_client.get(f"/v1/connections/{conn['id']}", headers=other).status_code == 404
    assert fake_client.delete(f"/v1/connections/{conn['id']}", headers=other).status_code == 404
    assert fake_client.get("/v1/connections", headers=other).json()["data"] == []
