"""Built-in connector ``rss``: a brand's blog (RSS 2.0 or Atom) and its comment feeds, WordPress style.

Why feeds: most brand blogs publish them with no API key, and WordPress threads comments
in them (``slash:comments``, ``wfw:commentRss``, comment guids ``<post guid>#comment-<n>``,
Atom ``thr:in-reply-to`` after RFC 4685). Stream ``posts`` reads ``feed_url``: each item is a
brand ``post`` event. Stream ``comments`` reads ``comment_feed_urls`` in order (by default the
WordPress site-wide ``comments/feed/`` beside ``feed_url``): each item is a ``comment``.

Threading: ``post_id`` is the item's guid (Atom id); a comment's ``in_reply_to`` is its
parent's ``thr:in-reply-to`` ref when the feed gives one, else the post of its WordPress
guid; ``conversation_id`` is that post, found by walking replies up within the page.

Origin: core calls an event the brand's when the actor's handle is the brand's handle on
``rss`` (``context.brand_handles["rss"]``). Posts, and comments whose author is listed in
``brand_authors`` (case-insensitive), get that handle, or the author's name when the brand
has none; other commenters get no handle, so nobody becomes the brand by taking its name.

Paging: a page token is the URL of the next document: an Atom ``rel="next"`` link, else
WordPress ``?paged=N+1`` while pages are full (``page_size``, up to ``max_pages``; the first
page that reaches the stored cursor stops it), else the next comment feed. The
current document is recognised by its self link. A ``paged`` URL WordPress answers with 404
reads as an empty last page. Tokens must stay on the configured feeds' hosts.

Safety: XML goes through expat with any DOCTYPE or entity declaration refused
(``PayloadError``), so neither billion-laughs nor XXE can happen; downloads have a timeout and
stop past ``max_bytes``. The cursor is RFC 3339 UTC with fixed-width microseconds so cursors
compare as strings.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

import httpx
import msgspec
from msgspec import Meta

from tribeops.core.plugin_api import (
    Actor, Connector, EventIn, PageResult, PayloadError, Stream, StreamContext, hookimpl,
)

ATOM, THR = "{http://www.w3.org/2005/Atom}", "{http://purl.org/syndication/thread/1.0}"
CONTENT, DC = "{http://purl.org/rss/1.0/modules/content/}", "{http://purl.org/dc/elements/1.1/}"
SLASH, WFW = "{http://purl.org/rss/1.0/modules/slash/}", "{http://wellformedweb.org/CommentAPI/}"
MAX_PAYLOAD = 20 * 1024 * 1024
MAX_REJECTED = 100
Url = Annotated[str, Meta(min_length=8, max_length=2000, pattern=r"^https?://\S+$")]


class RssConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where the blog and its comments are, and who speaks for the brand."""

    feed_url: Annotated[Url, Meta(description="The blog's feed, e.g. https://blog.example/feed/.")]
    comment_feed_urls: Annotated[list[Url], Meta(max_length=500, description=(
        "Comment feeds read in order; empty means WordPress's comments/feed/ beside feed_url."))] = []
    brand_authors: Annotated[list[Annotated[str, Meta(min_length=1, max_length=200)]], Meta(
        max_length=100, description="Author names whose comments are the brand's.")] = []
    page_size: Annotated[int, Meta(ge=1, le=1000, description="Items of a full page (WordPress: 10).")] = 10
    max_pages: Annotated[int, Meta(ge=1, le=1000, description="Most ?paged=N pages read per feed.")] = 20
    timeout_seconds: Annotated[float, Meta(gt=0, le=120)] = 20.0
    max_bytes: Annotated[int, Meta(ge=1024, le=MAX_PAYLOAD)] = 5 * 1024 * 1024


@dataclass
class Entry:
    """One item or entry, in the terms both formats share."""

    ref: str
    occurred_at: datetime
    author: str | None
    text: str
    parent: str | None = None
    author_uri: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    position: int = 0
    """1-based among the document's items, for ``PageResult.rejected``."""


@dataclass
class Feed:
    """A document's entries, the items it could not read, and the links that page through it."""

    entries: list[Entry] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    self_link: str | None = None
    next_link: str | None = None


def parse_xml(payload: bytes) -> Element:
    """The document's root; DTDs and entity declarations are refused before expat expands anything."""
    lowered = payload.lower()
    if not payload.strip():
        raise PayloadError("empty payload: expected an RSS 2.0 or Atom document")
    if len(payload) > MAX_PAYLOAD or b"<!doctype" in lowered or b"<!entity" in lowered:
        raise PayloadError("refused: too large, or carries a DTD or entity declaration")
    depth = 0

    def refuse(*_: Any) -> None:  # the check above cannot see UTF-16; expat sees every encoding
        raise PayloadError("refused: a DTD or entity declaration (billion laughs, XXE)")

    def name(raw: str) -> str:  # expat says "uri}local"; ElementTree says "{uri}local"
        return "{" + raw if "}" in raw else raw

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > 100:  # itertext() recurses: bound it
            raise PayloadError("refused: elements nested more than 100 deep")
        builder.start(name(tag), {name(k): v for k, v in attrs.items()})

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(name(tag))

    builder, parser = TreeBuilder(), expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(payload, True)
    except expat.ExpatError as exc:
        raise PayloadError(f"not well-formed XML: {exc}") from None
    return builder.close()


class _Text(HTMLParser):
    BLOCKS = frozenset("p br div li ul ol blockquote pre tr h1 h2 h3 h4 h5 h6".split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.hidden += tag in ("script", "style")
        self.parts.append("\n" if tag in self.BLOCKS else "")

    def handle_endtag(self, tag: str) -> None:
        self.hidden = max(0, self.hidden - (tag in ("script", "style")))
        self.parts.append("\n" if tag in self.BLOCKS else "")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities unescaped, whitespace tidied."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)[:10_000]


def _text(element: Element | None) -> str | None:
    value = None if element is None else "".join(element.itertext()).strip()
    return value or None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            moment = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _count(value: str | None) -> int | None:
    """A non-negative count as feeds write it, or None (not ``isdigit``: it accepts "²" and 5000 digits)."""
    return int(value) if value and re.fullmatch(r"[0-9]{1,12}", value.strip()) else None


def _stamp(moment: datetime) -> str:
    """RFC 3339 in UTC with fixed-width microseconds: such cursors compare correctly as strings."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bounded(value: str, limit: int = 200) -> str:
    """``value`` if it fits, else a stable digest of it (ids and refs are at most 200 characters)."""
    return value if len(value) <= limit else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _rss_entry(item: Element) -> Entry | str:
    ref = _text(item.find("guid")) or _text(item.find("link"))
    moment = _date(_text(item.find("pubDate")) or _text(item.find(f"{DC}date")))
    if ref is None or moment is None:
        return "item has no guid/link" if ref is None else "item has no valid pubDate"
    body = _text(item.find(f"{CONTENT}encoded")) or _text(item.find("description")) or ""
    attrs = {"title": html.unescape(_text(item.find("title")) or ""), "link": _text(item.find("link")),
             "comments": _count(_text(item.find(f"{SLASH}comments"))),
             "comments_feed": _text(item.find(f"{WFW}commentRss")),
             "categories": ", ".join(filter(None, (_text(c) for c in item.findall("category"))))}
    reply = item.find(f"{THR}in-reply-to")
    return Entry(ref, moment, _text(item.find(f"{DC}creator")) or _text(item.find("author")), html_to_text(body),
                 reply.get("ref") if reply is not None else None, attrs=attrs)


def _atom_entry(entry: Element, feed_author: str | None) -> Entry | str:
    ref = _text(entry.find(f"{ATOM}id"))
    moment = _date(_text(entry.find(f"{ATOM}published")) or _text(entry.find(f"{ATOM}updated")))
    if ref is None or moment is None:
        return "entry has no id" if ref is None else "entry has no valid published/updated date"
    content = entry.find(f"{ATOM}content")
    content = content if content is not None else entry.find(f"{ATOM}summary")
    raw = _text(content) or ""
    text = raw[:10_000] if content is not None and content.get("type", "text") != "html" else html_to_text(raw)
    links = entry.findall(f"{ATOM}link")
    replies = [link for link in links if link.get("rel") == "replies"]
    counts = [c for c in (_count(link.get(f"{THR}count")) for link in replies) if c is not None]
    attrs = {"title": html.unescape(_text(entry.find(f"{ATOM}title")) or ""),
             "link": next((x.get("href") for x in links if x.get("rel", "alternate") == "alternate"), None),
             "comments": _count(_text(entry.find(f"{THR}total"))) or max(counts, default=None),
             "comments_feed": next((x.get("href") for x in replies if x.get("type") == "application/atom+xml"), None),
             "categories": ", ".join(filter(None, (c.get("term") for c in entry.findall(f"{ATOM}category"))))}
    reply = entry.find(f"{THR}in-reply-to")
    return Entry(ref, moment, _text(entry.find(f"{ATOM}author/{ATOM}name")) or feed_author, text,
                 reply.get("ref") if reply is not None else None, _text(entry.find(f"{ATOM}author/{ATOM}uri")), attrs)


def read_feed(payload: bytes) -> Feed:
    """Entries, refused items and self/next links of an RSS 2.0 or Atom document."""
    root, feed = parse_xml(payload), Feed()
    if root.tag == "rss" and root.find("channel") is not None:
        channel = root.find("channel")
        items: list[Element] = channel.findall("item")  # type: ignore[union-attr]
        links = channel.findall(f"{ATOM}link")  # type: ignore[union-attr]
        results = [_rss_entry(item) for item in items]
    elif root.tag == f"{ATOM}feed":
        links, feed_author = root.findall(f"{ATOM}link"), _text(root.find(f"{ATOM}author/{ATOM}name"))
        results = [_atom_entry(entry, feed_author) for entry in root.findall(f"{ATOM}entry")]
    else:
        raise PayloadError(f"not an RSS 2.0 or Atom feed (root element {root.tag!r})")
    feed.self_link = next((x.get("href") for x in links if x.get("rel") == "self"), None)
    feed.next_link = next((x.get("href") for x in links if x.get("rel") == "next"), None)
    for position, result in enumerate(results, start=1):
        if isinstance(result, Entry):
            result.position = position
            feed.entries.append(result)
        elif len(feed.rejected) < MAX_REJECTED:
            feed.rejected.append((position, result))
    return feed


def _paged(url: str) -> tuple[str, int]:
    """``url`` without WordPress's ``paged`` parameter, and the page number it asked for."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    page = next((n for k, v in query if k == "paged" and (n := _count(v)) is not None), 1)
    return urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "paged"]))), page


def _same_feed(a: str, b: str) -> bool:
    """Whether two URLs name one feed; self links may carry another host (proxies), so paths decide."""
    pa, pb = urlsplit(a), urlsplit(b)
    return a == b or (pa.path.rstrip("/"), pa.query) == (pb.path.rstrip("/"), pb.query)


class RssStream(Stream):
    """One kind of feed: the blog's posts or the comment feeds."""

    kind = "post"

    def feeds(self, config: RssConfig) -> list[str]:
        return [config.feed_url]

    async def fetch(self, context: StreamContext, page_token: str | None) -> bytes:
        config: RssConfig = context.config
        url = page_token or self.feeds(config)[0]
        hosts = {urlsplit(u).hostname for u in [config.feed_url, *self.feeds(config)]}
        if urlsplit(url).scheme not in ("http", "https") or urlsplit(url).hostname not in hosts:
            raise PayloadError(f"page token {url!r} is not on the configured feeds' hosts")
        headers = {"User-Agent": "tribeops-rss/1.0", "Accept": "application/rss+xml, application/atom+xml, */*"}
        async with httpx.AsyncClient(timeout=config.timeout_seconds, follow_redirects=True, max_redirects=5,
                                     headers=headers) as client, client.stream("GET", url) as response:
            if response.status_code == 404 and _paged(url)[1] > 1:  # WordPress: past the last page
                return (f'<rss version="2.0" xmlns:atom="{ATOM[1:-1]}"><channel>'
                        f'<atom:link rel="self" href={quoteattr(url)}/></channel></rss>').encode()
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > config.max_bytes:
                    raise PayloadError(f"{url}: feed larger than {config.max_bytes} bytes")
            return bytes(body)

    def parse(self, payload: bytes, context: StreamContext) -> PageResult:
        config: RssConfig = context.config
        feed = read_feed(payload)
        brand = {name.casefold() for name in config.brand_authors}
        parents = {entry.ref: entry.parent for entry in feed.entries}
        events: list[EventIn] = []
        members: dict[str, Actor] = {}
        rejected = list(feed.rejected)
        for entry in feed.entries:
            post = entry.ref if self.kind == "post" else self.post_of(entry, parents)
            if post is None:
                rejected.append((entry.position, "cannot tell which post this comment is on"))
                continue
            is_brand = self.kind == "post" or (entry.author or "").casefold() in brand
            events.append(self.event(entry, context, is_brand, post))
            if not is_brand:
                members[events[-1].actor.id] = events[-1].actor
        cursor = max((e.occurred_at for e in events), default=None)
        return PageResult(events=events, members=list(members.values()), next_page=self.next_page(feed, context),
                          cursor=_stamp(cursor) if cursor else None,
                          rejected=rejected[:MAX_REJECTED])

    @staticmethod
    def post_of(entry: Entry, parents: dict[str, str | None]) -> str | None:
        """The post a comment belongs to: up the in-reply-to chain, then WordPress's guid convention."""
        ref, seen = entry.parent or entry.ref, {entry.ref}
        while parents.get(ref) and ref not in seen:
            seen.add(ref)
            ref = parents[ref]  # type: ignore[assignment]
        return ref.split("#comment-", 1)[0] if "#comment-" in ref else (ref if ref != entry.ref else None)

    def event(self, entry: Entry, context: StreamContext, is_brand: bool, post: str) -> EventIn:
        author = (entry.author or "anonymous")[:200]
        handle = (context.brand_handles.get("rss") or author)[:100] if is_brand else None
        attrs = {k: v[:1000] if isinstance(v, str) else v for k, v in entry.attrs.items() if v not in (None, "")}
        return EventIn(id=f"rss:{self.kind}:{_bounded(entry.ref, 180)}", brand_id=context.brand_id,
                       network=context.network, kind=self.kind, occurred_at=entry.occurred_at,
                       text=entry.text or None, attrs=attrs,
                       actor=Actor(id=author, handle=handle, name=author, url=(entry.author_uri or "")[:2000] or None),
                       post_id=_bounded(entry.ref), conversation_id=_bounded(post),
                       in_reply_to=None if self.kind == "post" else _bounded(entry.parent or post))

    def next_page(self, feed: Feed, context: StreamContext) -> str | None:
        config: RssConfig = context.config
        feeds = self.feeds(config)
        if feed.next_link and urlsplit(feed.next_link).hostname in {urlsplit(u).hostname for u in feeds}:
            return feed.next_link
        if feed.self_link is None:
            return None
        base, page = _paged(feed.self_link)
        index = next((i for i, url in enumerate(feeds) if _same_feed(_paged(url)[0], base)), None)
        oldest = min((e.occurred_at for e in feed.entries), default=None)
        # This page reaches the checkpoint: the pages after it are older, stored by an earlier sync.
        reached = (index == 0 and context.cursor is not None and oldest is not None
                   and _stamp(oldest) <= context.cursor)
        if len(feed.entries) + len(feed.rejected) >= config.page_size and page < config.max_pages and not reached:
            parts = urlsplit(base)
            query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("paged", str(page + 1))])
            return urlunsplit(parts._replace(query=query))
        return feeds[index + 1] if index is not None and index + 1 < len(feeds) else None


class PostsStream(RssStream):
    name = "posts"


class CommentsStream(RssStream):
    name = "comments"
    kind = "comment"

    def feeds(self, config: RssConfig) -> list[str]:
        if config.comment_feed_urls:
            return list(config.comment_feed_urls)
        base = config.feed_url.rstrip("/")
        return [base[:-5] + "/comments/feed/" if base.endswith("/feed") else urljoin(base, "comments/feed/")]


class RssConnector(Connector):
    network = "rss"
    title = "RSS / Atom blog"
    description = "A brand's blog feed and its comment feeds (WordPress RSS 2.0, Atom with RFC 4685 threading)."
    capabilities = ("polling",)
    Config = RssConfig

    def streams(self) -> list[Stream]:
        return [PostsStream(self), CommentsStream(self)]


@hookimpl
def register_connectors(register: Any) -> None:
    register(RssConnector)
