"""The rss connector on recorded WordPress feeds, served on loopback the way WordPress serves them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tribeops.core.connectors import PageResult, PayloadError, Stream, StreamContext
from tribeops.core.errors import ValidationFailed
from tribeops.core.plugins import create_manager
from tribeops.plugins.csv import CsvConnector
from tribeops.plugins.rss import RssConnector, html_to_text
from tribeops.testing.conformance import assert_connector_conforms

PAYLOADS = Path(__file__).parent / "payloads"
RECORDED_HOST = "https://blog.aurora-roasters.example"
BRAND_ID = "brd_01JD0000000000000000000000"
HANDLES = {"rss": "aurora-roasters"}
POST_FEED = "/2025/03/ethiopia-guji-natural/feed/"
ATOM_FEED = "/2025/04/espresso-ratios/feed/atom/"
ROUTES = {"/feed/": "wordpress-feed.xml", POST_FEED: "wordpress-post-comments.xml",
          ATOM_FEED: "wordpress-post-comments.atom", "/comments/feed/": "wordpress-post-comments.xml"}


class Blog:
    """A WordPress blog on 127.0.0.1: the recorded feeds, with links naming the host they are served from."""

    def __init__(self) -> None:
        blog = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                blog.requests.append(self.path)
                if self.path == "/old-feed/":
                    self.send_response(301)
                    self.send_header("Location", "/feed/")
                    self.end_headers()
                    return
                if self.path == "/huge/feed/":
                    body = b"<rss>" + b" " * 300_000 + b"</rss>"
                elif self.path in ROUTES:
                    recorded = (PAYLOADS / ROUTES[self.path]).read_bytes()
                    body = recorded.replace(RECORDED_HOST.encode(), blog.url.encode())
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def blog() -> Iterator[Blog]:
    served = Blog()
    yield served
    served.server.shutdown()
    served.server.server_close()


def context_for(config: dict[str, object], cursor: str | None = None) -> StreamContext:
    parsed = RssConnector.parse_config(config)
    return StreamContext(workspace_id="wks_test", brand_id=BRAND_ID, network="rss", config=parsed,
                         brand_handles=HANDLES, cursor=cursor)


async def run(stream: Stream, context: StreamContext) -> tuple[list[PageResult], list[str]]:
    """Page through a stream as core's sync does: follow next_page, never the same token twice."""
    pages: list[PageResult] = []
    tokens: list[str] = []
    token: str | None = None
    while len(pages) < 20:
        pages.append(stream.parse(await stream.fetch(context, token), context))
        if pages[-1].next_page is None:
            return pages, tokens
        assert pages[-1].next_page not in tokens
        token = pages[-1].next_page
        tokens.append(token)
    raise AssertionError("paging did not end")


async def test_comments_are_member_comments_threaded_to_the_brand_post(blog: Blog) -> None:
    context = context_for({"feed_url": f"{blog.url}/feed/", "brand_authors": ["Giulia Ferri"],
                           "comment_feed_urls": [blog.url + POST_FEED, blog.url + ATOM_FEED]})
    connector = RssConnector(context.config)
    (posts_page,), _ = await run(connector.stream("posts"), context)
    posts = {e.attrs["title"]: e for e in posts_page.events}
    guji = posts["Ethiopia Guji natural: our spring single origin"]
    assert guji.kind == "post" and guji.actor.handle == "aurora-roasters" and guji.post_id == f"{blog.url}/?p=412"
    assert guji.attrs["comments"] == 4 and guji.attrs["comments_feed"] == blog.url + POST_FEED

    pages, tokens = await run(connector.stream("comments"), context)
    assert tokens == [blog.url + ATOM_FEED]  # the second comment feed came as the first page's token
    assert blog.requests == ["/feed/", POST_FEED, ATOM_FEED]
    on_guji = pages[0].events
    members = [e for e in on_guji if e.actor.name != "Giulia Ferri"]
    assert [e.actor.name for e in members] == ["Lucia Bernardi", "Sarah Lindqvist", "Marco B."]
    for comment in on_guji:
        assert comment.kind == "comment"
        assert comment.in_reply_to == guji.post_id and comment.conversation_id == guji.post_id
    assert all(e.actor.handle is None for e in members)
    assert {m.name for m in pages[0].members} == {"Lucia Bernardi", "Sarah Lindqvist", "Marco B."}
    reply = next(e for e in on_guji if e.actor.name == "Giulia Ferri")
    assert reply.actor.handle == "aurora-roasters"  # the blog's author speaks for the brand
    assert reply.text.startswith("Grazie Lucia! Per l’espresso prova 19 g in")
    assert "<p>" not in (members[0].text or "") and "&#8217;" not in (members[0].text or "")


async def test_atom_thr_in_reply_to_threads_a_reply_to_its_parent_comment(blog: Blog) -> None:
    context = context_for({"feed_url": f"{blog.url}/feed/", "brand_authors": ["giulia ferri"],
                           "comment_feed_urls": [blog.url + ATOM_FEED]})
    page = await RssConnector(context.config).stream("comments").fetch(context, None)
    events = {e.actor.name: e for e in RssConnector(context.config).stream("comments").parse(page, context).events}
    post = f"{blog.url}/?p=418"
    assert events["Tom Hargreaves"].in_reply_to == post
    assert events["Giulia Ferri"].in_reply_to == events["Tom Hargreaves"].post_id
    assert events["Giulia Ferri"].actor.handle == "aurora-roasters"
    assert {e.conversation_id for e in events.values()} == {post}
    assert events["Luca Moretti"].actor.url == "https://lucamoretti.example"


async def test_posts_follow_the_wordpress_paged_token_until_past_the_last_page(blog: Blog) -> None:
    context = context_for({"feed_url": f"{blog.url}/old-feed/", "page_size": 3})
    pages, tokens = await run(RssConnector(context.config).stream("posts"), context)
    assert tokens == [f"{blog.url}/feed/?paged=2"]  # the redirect was followed; the self link names /feed/
    assert [len(p.events) for p in pages] == [3, 0] and pages[1].next_page is None
    assert blog.requests == ["/old-feed/", "/feed/", "/feed/?paged=2"]


def test_a_first_page_that_reaches_the_checkpoint_does_not_page_on() -> None:
    feed = (PAYLOADS / "wordpress-feed.xml").read_bytes()
    fresh = context_for({"feed_url": f"{RECORDED_HOST}/feed/", "page_size": 3})
    known = context_for({"feed_url": f"{RECORDED_HOST}/feed/", "page_size": 3}, cursor="2025-03-01T00:00:00Z")
    stream = RssConnector(fresh.config).stream("posts")
    assert stream.parse(feed, fresh).next_page == f"{RECORDED_HOST}/feed/?paged=2"
    assert stream.parse(feed, known).next_page is None
    assert stream.parse(feed, fresh).cursor == "2025-04-08T07:30:00.000000Z"


def test_a_later_page_that_reaches_the_checkpoint_does_not_page_on_either() -> None:
    """After more than a page of new posts, paging stops at the page that reaches the stored
    posts, not at the site's last page."""
    self_link = f'href="{RECORDED_HOST}/feed/" rel="self"'
    second = (PAYLOADS / "wordpress-feed.xml").read_bytes().replace(
        self_link.encode(), self_link.replace("/feed/", "/feed/?paged=2").encode())
    assert second != (PAYLOADS / "wordpress-feed.xml").read_bytes()
    fresh = context_for({"feed_url": f"{RECORDED_HOST}/feed/", "page_size": 3})
    known = context_for({"feed_url": f"{RECORDED_HOST}/feed/", "page_size": 3}, cursor="2025-03-01T00:00:00Z")
    stream = RssConnector(fresh.config).stream("posts")
    assert stream.parse(second, fresh).next_page == f"{RECORDED_HOST}/feed/?paged=3"
    assert stream.parse(second, known).next_page is None


async def test_the_default_comment_feed_is_wordpress_site_wide_one(blog: Blog) -> None:
    context = context_for({"feed_url": f"{blog.url}/feed/"})
    stream = RssConnector(context.config).stream("comments")
    page = stream.parse(await stream.fetch(context, None), context)
    assert blog.requests == ["/comments/feed/"] and len(page.events) == 4


async def test_fetch_caps_the_size_and_stays_on_the_feeds_hosts(blog: Blog) -> None:
    context = context_for({"feed_url": f"{blog.url}/huge/feed/", "max_bytes": 100_000})
    stream = RssConnector(context.config).stream("posts")
    with pytest.raises(PayloadError, match="larger than"):
        await stream.fetch(context, None)
    with pytest.raises(PayloadError, match="hosts"):
        await stream.fetch(context, "http://169.254.169.254/latest/meta-data/")
    assert blog.requests == ["/huge/feed/"]


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b'<rss version="2.0"><channel><title>&lol2;</title></channel></rss>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss><channel>&x;</channel></rss>',
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "b">]><rss/>'.encode("utf-16"),
    b'<rss version="2.0"><channel><title>&undefined;</title></channel></rss>',
    b'<html><body>not a feed</body></html>',
])
def test_dtds_entities_and_other_documents_are_refused(payload: bytes) -> None:
    context = context_for({"feed_url": f"{RECORDED_HOST}/feed/"})
    with pytest.raises(PayloadError):
        RssConnector(context.config).stream("posts").parse(payload, context)


def test_config_is_strict_and_bounded() -> None:
    with pytest.raises(ValidationFailed) as refused:
        RssConnector.parse_config({"feed_url": "file:///etc/passwd", "brand_author": ["x"], "page_size": 0})
    assert {e.pointer for e in refused.value.errors} == {"/feed_url", "/brand_author", "/page_size"}


def test_html_is_flattened_to_plain_text() -> None:
    assert html_to_text("<p>Caff&egrave; &amp; <b>crema</b></p><script>x()</script><p>18&nbsp;g</p>") == \
        "Caffè & crema\n18 g"


def test_rss_conforms() -> None:
    assert_connector_conforms(
        RssConnector, {"feed_url": f"{RECORDED_HOST}/feed/", "brand_authors": ["Giulia Ferri"],
                       "comment_feed_urls": [RECORDED_HOST + POST_FEED, RECORDED_HOST + ATOM_FEED]},
        {"posts": [(PAYLOADS / "wordpress-feed.xml").read_bytes()],
         "comments": [(PAYLOADS / "wordpress-post-comments.xml").read_bytes(),
                      (PAYLOADS / "wordpress-post-comments.atom").read_bytes()]},
        brand_handles=HANDLES)


def test_rss_and_csv_are_built_in_plugins() -> None:
    _, registry = create_manager(load="")
    assert registry.connectors["rss"].item is RssConnector
    assert registry.connectors["csv"].item is CsvConnector
    assert registry.plugins["tribeops.plugins.rss"].registered == {"connectors": ["rss"]}
