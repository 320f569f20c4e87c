"""Connections: config checked by the connector, syncs that checkpoint per page, signed webhooks."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from tribeops.api.app import create_app
from tribeops.core.jobs import insert_sync
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


# A csv connection: its connector reads exported files, and does not poll.
CSV_CONFIG = {"columns": {"id": "id", "occurred_at": "at", "actor_id": "by"}, "constants": {"kind": "comment"}}


def _finished(client: TestClient[Any], headers: dict[str, str], location: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(location, headers=headers).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_a_sync_asked_for_runs_as_a_job_whose_result_counts_each_stream(fake_client: TestClient[Any],
                                                                       setup: Any) -> None:
    headers, brand, conn = setup
    assert conn["sync_every_minutes"] == 60  # a polling connector's default
    FakePosts.PAGES = {
        None: _page([{"id": "sj1", "kind": "post", "by": "acme", "at": "2026-02-01T10:00:00+00:00"}], "n2"),
        "n2": _page([{"id": "sj2", "kind": "comment", "by": "anna", "to": "sj1", "at": "2026-02-01T11:00:00+00:00"}],
                    None, fans=["bob"]),
    }
    asked = fake_client.post(f"/v1/connections/{conn['id']}/sync", headers=headers)
    assert asked.status_code == 202, asked.text
    assert asked.headers["Location"] == f"/v1/jobs/{asked.json()['id']}" and asked.headers["Retry-After"]
    assert asked.json()["kind"] == "connections.sync"
    assert asked.json()["params"] == {"brand_id": brand, "connection_id": conn["id"]}
    job = _finished(fake_client, headers, asked.headers["Location"])
    assert job["status"] == "succeeded", job
    assert job["result"] == {"object": "sync", "connection_id": conn["id"], "streams": [
        {"connection_id": conn["id"], "stream": "posts", "pages": 2, "accepted": 2, "duplicates": 0, "rejected": 0,
         "members": 1, "cursor": "2026-02-01T11:00:00+00:00"}]}
    events = fake_client.get("/v1/events", params={"brand_id": brand, "network": "fakenet"}, headers=headers).json()
    assert {e["id"] for e in events["data"]} == {"sj1", "sj2"}
    assert conn["last_sync"] is None and conn["next_sync_at"] == conn["created_at"]  # due at once
    shown = fake_client.get(f"/v1/connections/{conn['id']}", headers=headers).json()
    assert shown["state"]["posts"]["cursor"] == "2026-02-01T11:00:00+00:00"
    assert shown["last_sync"] == {"job_id": job["id"], "status": "succeeded", "stream": None,
                                  "created_at": job["created_at"], "finished_at": job["finished_at"]}
    full = datetime.fromisoformat(job["created_at"])
    assert datetime.fromisoformat(shown["next_sync_at"]) == full + timedelta(minutes=60)
    # Through /v1/jobs too, and listed with the brand's jobs.
    again = fake_client.post("/v1/jobs", json={"kind": "connections.sync", "params": {
        "connection_id": conn["id"], "stream": "posts"}}, headers=headers)
    assert again.status_code == 202, again.text
    job = _finished(fake_client, headers, again.headers["Location"])
    assert job["status"] == "succeeded" and job["params"]["stream"] == "posts"
    assert [(s["accepted"], s["duplicates"]) for s in job["result"]["streams"]] == [(0, 2)]
    listed = fake_client.get("/v1/jobs", params={"brand_id": brand, "kind": "connections.sync"}, headers=headers)
    assert {j["id"] for j in listed.json()["data"]} == {asked.json()["id"], again.json()["id"]}
    # The latest sync is that one, of one stream: the next of them all is still due an hour after the first.
    [shown] = [c for c in fake_client.get("/v1/connections", params={"brand_id": brand}, headers=headers).json()["data"]
               if c["id"] == conn["id"]]
    assert (shown["last_sync"]["job_id"], shown["last_sync"]["stream"]) == (again.json()["id"], "posts")
    assert datetime.fromisoformat(shown["next_sync_at"]) == full + timedelta(minutes=60)


def test_a_sync_that_fails_keeps_the_pages_before_and_names_the_plugin_and_stream(fake_client: TestClient[Any],
                                                                                 setup: Any) -> None:
    headers, brand, conn = setup
    FakePosts.PAGES = {  # the second page is missing: the network fails there
        None: _page([{"id": "sf1", "kind": "post", "by": "acme", "at": "2026-03-01T10:00:00+00:00"}], "gone"),
    }
    asked = fake_client.post(f"/v1/connections/{conn['id']}/sync", headers=headers)
    job = _finished(fake_client, headers, asked.headers["Location"])
    assert job["status"] == "failed"
    assert job["errors"] == ["fakenet: fakenet/posts: KeyError: 'gone'"]
    assert [(s["stream"], s["pages"], s["accepted"]) for s in job["result"]["streams"]] == [("posts", 1, 1)]
    state = fake_client.get(f"/v1/connections/{conn['id']}", headers=headers).json()["state"]
    assert state["posts"]["cursor"] == "2026-03-01T10:00:00+00:00"  # the next sync goes on from there


def test_syncs_are_checked_naming_the_parameter_at_fault(fake_client: TestClient[Any], setup: Any,
                                                         new_key: Any) -> None:
    headers, brand, conn = setup

    def refused(params: dict[str, Any], kind: str = "connections.sync") -> list[tuple[str, str]]:
        answer = fake_client.post("/v1/jobs", json={"kind": kind, "params": params}, headers=headers)
        assert answer.status_code == 422, answer.text
        return [(e["pointer"], e["message"]) for e in answer.json()["errors"]]

    assert refused({"brand_id": brand})[0][0] == "/params/connection_id"
    assert refused({"connection_id": "con_01JD0000000000000000000000"})[0][0] == "/params/connection_id"
    [(pointer, message)] = refused({"connection_id": conn["id"], "stream": "stories"})
    assert pointer == "/params/stream" and "it has posts" in message
    other = fake_client.post("/v1/brands", json={"name": "Other"}, headers=headers).json()["id"]
    assert refused({"connection_id": conn["id"], "brand_id": other})[0][0] == "/params/brand_id"
    assert [p for p, _ in refused({"brand_id": brand, "connection_id": conn["id"], "stream": "posts"},
                                  "scorecards.aggregate")] == ["/params/connection_id", "/params/stream"]
    assert refused({}, "scorecards.rebuild")[0][0] == "/params/brand_id"
    # Another workspace's connection is not there.
    stranger = bearer(new_key())
    assert fake_client.post(f"/v1/connections/{conn['id']}/sync", headers=stranger).status_code == 404
    # A connector that does not poll (files, webhooks) has nothing to sync, and no interval.
    files = fake_client.post("/v1/connections", json={"brand_id": brand, "network": "csv", "name": "export",
                                                      "config": CSV_CONFIG}, headers=headers)
    assert files.status_code == 201 and files.json()["sync_every_minutes"] is None
    [(pointer, message)] = refused({"connection_id": files.json()["id"]})
    assert pointer == "/params/connection_id" and "does not poll" in message
    timed = fake_client.patch(f"/v1/connections/{files.json()['id']}", json={"sync_every_minutes": 30},
                              headers=headers)
    assert timed.status_code == 422 and timed.json()["errors"][0]["pointer"] == "/sync_every_minutes"


def test_the_minutes_between_syncs_are_the_clients_to_set(fake_client: TestClient[Any], setup: Any) -> None:
    headers, brand, conn = setup
    manual = fake_client.post("/v1/connections", json={"brand_id": brand, "network": "fakenet", "name": "manual",
                                                       "config": {"account": "acme"}, "sync_every_minutes": None},
                              headers=headers)
    assert manual.status_code == 201 and manual.json()["sync_every_minutes"] is None
    assert manual.json()["next_sync_at"] is None and manual.json()["last_sync"] is None
    for bad in (0, 10081, 1.5, True):
        answer = fake_client.patch(f"/v1/connections/{conn['id']}", json={"sync_every_minutes": bad}, headers=headers)
        assert answer.status_code == 422 and answer.json()["errors"][0]["pointer"] == "/sync_every_minutes", bad
    changed = fake_client.patch(f"/v1/connections/{conn['id']}", json={"sync_every_minutes": 15}, headers=headers)
    assert changed.status_code == 200 and changed.json()["sync_every_minutes"] == 15
    off = fake_client.patch(f"/v1/connections/{conn['id']}", json={"sync_every_minutes": None}, headers=headers)
    assert off.json()["sync_every_minutes"] is None
    assert fake_client.patch(f"/v1/connections/{conn['id']}", json={"name": "renamed"},
                             headers=headers).json()["sync_every_minutes"] is None  # left as it was


def test_a_connection_deleted_during_its_sync_ends_it_clearly_keeping_what_was_stored(
        fake_client: TestClient[Any], setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    headers, brand, conn = setup
    FakePosts.PAGES = {
        None: _page([{"id": "gone1", "kind": "post", "by": "acme", "at": "2026-05-01T10:00:00+00:00"}], "n2"),
        "n2": _page([{"id": "gone2", "kind": "post", "by": "acme", "at": "2026-05-01T11:00:00+00:00"}], None),
    }
    fetch = FakePosts.fetch

    async def deleting_before_the_second_page(self: Any, context: Any, token: str | None) -> bytes:
        if token == "n2":  # the first page is stored: the connection goes now
            state = fake_client.app.state.tribeops
            async with state.core.db.transaction() as c:
                await c.exec_driver_sql("DELETE FROM connections WHERE id = ?" if state.core.db.dialect == "sqlite"
                                        else "DELETE FROM connections WHERE id = $1", (conn["id"],))
        return await fetch(self, context, token)

    monkeypatch.setattr(FakePosts, "fetch", deleting_before_the_second_page)
    asked = fake_client.post(f"/v1/connections/{conn['id']}/sync", headers=headers)
    job = _finished(fake_client, headers, asked.headers["Location"])
    assert job["status"] == "failed"
    assert job["errors"] == [f"The connection {conn['id']} was deleted during this sync, which stopped at "
                             "fakenet/posts."]
    [report] = job["result"]["streams"]  # the second page's cursor is not claimed: it was not stored
    assert (report["pages"], report["accepted"], report["cursor"]) == (1, 1, "2026-05-01T10:00:00+00:00")
    events = fake_client.get("/v1/events", params={"brand_id": brand, "network": "fakenet"}, headers=headers).json()
    assert [e["id"] for e in events["data"]] == ["gone1"]
    # A sync that comes after says so too (a request's own check would already answer 422 or 404).
    state = fake_client.app.state.tribeops

    async def queue() -> str:
        caller = await state.keys.resolve(headers["Authorization"].split()[1])
        async with state.core.db.transaction() as c:
            job_id = await insert_sync(c, caller.workspace_id, brand, conn["id"])
        await state.queue.enqueue(job_id)
        return job_id

    with fake_client.portal() as portal:
        late = portal.call(queue)
    job = _finished(fake_client, headers, f"/v1/jobs/{late}")
    assert (job["status"], job["errors"]) == ("failed", [f"The connection {conn['id']} was deleted before this sync "
                                                         "ran."])


def test_a_sync_asked_for_in_the_path_is_refused_naming_the_path(fake_client: TestClient[Any], setup: Any) -> None:
    headers, brand, _ = setup
    files = fake_client.post("/v1/connections", json={"brand_id": brand, "network": "csv", "name": "export",
                                                      "config": CSV_CONFIG}, headers=headers).json()
    refused = fake_client.post(f"/v1/connections/{files['id']}/sync", headers=headers)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert (error["pointer"], error["in"]) == ("/connection_id", "path") and "does not poll" in error["message"]


def test_a_sync_from_the_start_reads_past_the_checkpoint_which_never_goes_back(fake_client: TestClient[Any],
                                                                               setup: Any) -> None:
    headers, brand, conn = setup
    FakePosts.PAGES = {None: _page([{"id": "fs2", "kind": "post", "by": "acme", "at": "2026-06-02T10:00:00+00:00"}],
                                   None)}

    def sync(**params: Any) -> Any:
        asked = fake_client.post("/v1/jobs", json={"kind": "connections.sync", "params": {
            "connection_id": conn["id"], **params}}, headers=headers)
        assert asked.status_code == 202, asked.text
        return _finished(fake_client, headers, asked.headers["Location"])

    assert sync()["status"] == "succeeded"
    FakePosts.cursors.clear()
    assert sync()["status"] == "succeeded" and FakePosts.cursors == ["2026-06-02T10:00:00+00:00"]  # from the checkpoint
    # The network now serves an older post the checkpoint would pass over: read from the start.
    FakePosts.PAGES = {None: _page([{"id": "fs1", "kind": "post", "by": "acme", "at": "2026-06-01T10:00:00+00:00"}],
                                   None)}
    FakePosts.cursors.clear()
    job = sync(from_start=True)
    assert job["status"] == "succeeded" and job["params"]["from_start"] is True and FakePosts.cursors == [None]
    # The checkpoint, in the report as in the state, does not go back to the older post's.
    assert [(s["accepted"], s["cursor"]) for s in job["result"]["streams"]] == [(1, "2026-06-02T10:00:00+00:00")]
    state = fake_client.get(f"/v1/connections/{conn['id']}", headers=headers).json()["state"]
    assert state["posts"]["cursor"] == "2026-06-02T10:00:00+00:00"
    refused = fake_client.post("/v1/jobs", json={"kind": "scorecards.aggregate", "params": {
        "brand_id": brand, "from_start": True}}, headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/params/from_start"


def test_a_feed_read_newest_first_is_checkpointed_once_read_to_its_end(fake_client: TestClient[Any], setup: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that dies between pages of a newest-first feed must not skip the older pages it had
    not reached: the next sync reads from the checkpoint it started from."""
    headers, brand, conn = setup
    monkeypatch.setattr(FakePosts, "is_sorted", False)
    newest = _page([{"id": "nf3", "kind": "post", "by": "acme", "at": "2026-07-03T10:00:00+00:00"}], "older")
    older = _page([{"id": "nf1", "kind": "post", "by": "acme", "at": "2026-07-01T10:00:00+00:00"},
                   {"id": "nf2", "kind": "post", "by": "acme", "at": "2026-07-02T10:00:00+00:00"}], None)

    def sync() -> Any:
        asked = fake_client.post(f"/v1/connections/{conn['id']}/sync", headers=headers)
        return _finished(fake_client, headers, asked.headers["Location"])

    FakePosts.PAGES = {None: newest}  # the older page fails (the network, a worker killed...)
    FakePosts.cursors.clear()
    job = sync()
    assert job["status"] == "failed" and [(s["accepted"], s["cursor"]) for s in job["result"]["streams"]] == [(1, None)]
    assert "posts" not in fake_client.get(f"/v1/connections/{conn['id']}", headers=headers).json()["state"]
    FakePosts.PAGES = {None: newest, "older": older}
    FakePosts.cursors.clear()
    job = sync()
    assert job["status"] == "succeeded"
    [report] = job["result"]["streams"]
    assert (report["pages"], report["accepted"], report["duplicates"]) == (2, 2, 1)
    assert report["cursor"] == "2026-07-03T10:00:00+00:00"
    assert FakePosts.cursors == [None, None]  # every page is read knowing where the run started
    state = fake_client.get(f"/v1/connections/{conn['id']}", headers=headers).json()["state"]
    assert state["posts"]["cursor"] == "2026-07-03T10:00:00+00:00"
    events = fake_client.get("/v1/events", params={"brand_id": brand, "network": "fakenet"}, headers=headers).json()
    assert {e["id"] for e in events["data"]} == {"nf1", "nf2", "nf3"}
