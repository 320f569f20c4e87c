"""End to end: a real WordPress blog and comment feed, synced through core into stored events."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from litestar.testing import TestClient

from tribeops.core.services.context import Caller
from tribeops.core.sync import run_stream

from .test_rss import PAYLOADS, POST_FEED, Blog, blog  # noqa: F401 - the fixture

__all__ = ["blog"]


def _sync(client: TestClient[Any], headers: dict[str, str], connection_id: str, stream: str) -> Any:
    state = client.app.state.tribeops

    async def run() -> Any:
        caller: Caller | None = await state.keys.resolve(headers["Authorization"].split()[1])
        assert caller is not None
        return await run_stream(state.core, caller, connection_id, stream)

    with client.portal() as portal:
        return portal.call(run)


def test_wordpress_comments_become_member_comments_threaded_to_the_brand_post(
        client: TestClient[Any], admin: dict[str, str], blog: Blog) -> None:  # noqa: F811
    brand = client.post("/v1/brands", json={"name": "Aurora", "handles": {"rss": "aurora-roasters"}},
                        headers=admin).json()["id"]
    connection = client.post("/v1/connections", json={
        "brand_id": brand, "network": "rss", "name": "Blog",
        "config": {"feed_url": f"{blog.url}/feed/", "comment_feed_urls": [f"{blog.url}{POST_FEED}"]}},
        headers=admin)
    assert connection.status_code == 201, connection.text
    posts = _sync(client, admin, connection.json()["id"], "posts")
    comments = _sync(client, admin, connection.json()["id"], "comments")
    assert posts.accepted > 0 and comments.accepted > 0
    events = client.get("/v1/events", params={"brand_id": brand, "limit": 100}, headers=admin).json()["data"]
    by_post = {e["post_id"]: e for e in events}
    brand_posts = [e for e in events if e["kind"] == "post"]
    assert brand_posts and all(e["origin"] == "brand" for e in brand_posts)
    member_comments = [e for e in events if e["kind"] == "comment" and e["origin"] == "member"]
    assert member_comments
    for comment in member_comments:
        parent = by_post[comment["in_reply_to"]]  # threaded to a stored event
        assert parent["kind"] in ("post", "comment")
    assert any(by_post[c["in_reply_to"]]["kind"] == "post" and by_post[c["in_reply_to"]]["origin"] == "brand"
               for c in member_comments)
    again = _sync(client, admin, connection.json()["id"], "comments")
    assert again.accepted == 0  # a second run stores nothing twice
    state = client.get(f"/v1/connections/{connection.json()['id']}", headers=admin).json()["state"]
    assert state["posts"]["cursor"] and state["comments"]["cursor"]


def test_connectors_parse_prints_normalised_events() -> None:
    command = [sys.executable, "-m", "tribeops.cli.main", "connectors", "parse", "rss",
               str(PAYLOADS / "wordpress-post-comments.xml"), "--stream", "comments",
               "--config", json.dumps({"feed_url": "https://blog.aurora-roasters.example/feed/"})]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events and all(e["kind"] == "comment" and e["in_reply_to"] for e in events)
    bad = subprocess.run(command[:-1] + ['{"feed_urll": 1}'], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "feed_urll" in bad.stderr
