"""The connector contract, after the Singer SDK.

A :class:`Connector` is one network: it declares its capabilities, a configuration type
and its streams. A :class:`Stream` has a name, a key and a cursor field; it can fetch one
page of the network's raw API payload and turn it into KPI events and member profiles.
Core, not the connector, stores what a page yields and checkpoints the cursor after each
committed page, and it refuses a page token it has already seen in the same run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import msgspec

from .schemas.events import Actor, EventIn

Capability = Literal["polling", "webhooks", "files"]


class PageResult(msgspec.Struct, kw_only=True):
    """What one page of raw payload yields."""

    events: list[EventIn] = msgspec.field(default_factory=list)
    members: list[Actor] = msgspec.field(default_factory=list)
    next_page: str | None = None
    """Token of the next page, or None when this was the last one."""
    cursor: str | None = None
    """The highest cursor value seen on this page; stored once the page is committed."""
    rejected: list[tuple[int, str]] = msgspec.field(default_factory=list)
    """Records of this page that could not become events, as ``(position, reason)``.

    A bad record must not cost the good ones: the connector skips it and says so here.
    ``position`` is 1-based in the payload's own terms (a CSV row counting the header, an
    NDJSON line, a feed item). Bounded: connectors keep at most 100 entries, reasons at
    most 500 characters.
    """


@dataclass(frozen=True)
class StreamContext:
    """What a stream knows while it fetches and parses: whose account, which config, its state."""

    workspace_id: str
    brand_id: str
    network: str
    config: Any
    brand_handles: Mapping[str, str] = field(default_factory=dict)
    cursor: str | None = None
    """The cursor checkpointed by the last committed page of this stream, if any."""


class Stream:
    """One kind of record a network offers (posts, comments, followers...)."""

    name: ClassVar[str]
    key: ClassVar[str] = "id"
    cursor_field: ClassVar[str | None] = "occurred_at"
    is_sorted: ClassVar[bool] = False
    """Whether a run's pages come oldest first, each page's cursor at least the one before. Then
    core checkpoints the cursor with each page, and a run that dies resumes after its last
    page. Otherwise (newest first, as feeds and most timelines are) core checkpoints once the
    stream's last page is stored, and ``StreamContext.cursor`` stays the checkpoint the run
    started from: a run that dies reads again from there rather than skip older pages."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    async def fetch(self, context: StreamContext, page_token: str | None) -> bytes:
        """The raw payload of one page (``page_token`` None for the first). Polling connectors override."""
        raise NotImplementedError(f"stream {self.name!r} of {self.connector.network!r} cannot be polled")

    def parse(self, payload: bytes, context: StreamContext) -> PageResult:
        """Turn one page of the network's raw payload into events and member profiles."""
        raise NotImplementedError


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    headers: Mapping[str, str]
    """Header names in lower case."""
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"


class Connector:
    """A network. Subclass, set the class attributes, list the streams."""

    network: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    capabilities: ClassVar[tuple[Capability, ...]] = ("polling",)
    Config: ClassVar[type[msgspec.Struct]]

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def parse_config(cls, raw: Any) -> Any:
        """The configuration from JSON builtins (raises ``ValidationFailed`` naming each bad field)."""
        from .validation import convert

        return convert(raw, cls.Config)

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        """The configuration's JSON schema, as ``GET /v1/connectors`` shows it."""
        return msgspec.json.schema(cls.Config)

    def streams(self) -> Sequence[Stream]:
        raise NotImplementedError

    def stream(self, name: str) -> Stream:
        for stream in self.streams():
            if stream.name == name:
                return stream
        raise KeyError(f"{self.network} has no stream {name!r}")

    # Webhook-capable connectors override the three methods below.
    def verify_webhook(self, request: WebhookRequest, secret: str) -> bool:
        """Whether ``request`` carries the network's valid signature for ``secret``."""
        return False

    def answer_challenge(self, request: WebhookRequest, verify_token: str) -> WebhookResponse | None:
        """The answer to the network's subscription challenge, or None if this is not one."""
        return None

    def webhook_stream(self) -> Stream:
        """The stream that parses webhook deliveries."""
        raise NotImplementedError(f"{self.network} does not take webhooks")


class PayloadError(ValueError):
    """A raw payload that is not what the network sends (not XML, missing required parts...)."""
