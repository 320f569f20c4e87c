"""A fake network for the connector machinery: pages served from memory, Meta-style webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import msgspec

from tribeops.core.plugin_api import (
    Actor,
    Connector,
    EventIn,
    PageResult,
    Stream,
    StreamContext,
    WebhookRequest,
    WebhookResponse,
    hookimpl,
)


class FakeConfig(msgspec.Struct, forbid_unknown_fields=True):
    account: str
    webhook_secret: str = ""
    verify_token: str = ""


class FakePosts(Stream):
    """Pages are JSON: {"items": [...], "next": token|null}; ``PAGES`` maps token → page."""

    name = "posts"
    is_sorted = True  # pages oldest first (tests of a feed read newest first set it False)
    PAGES: ClassVar[dict[str | None, dict[str, Any]]] = {}
    fetched: ClassVar[list[str | None]] = []
    cursors: ClassVar[list[str | None]] = []  # the checkpoint each fetch was given

    async def fetch(self, context: StreamContext, page_token: str | None) -> bytes:
        self.fetched.append(page_token)
        self.cursors.append(context.cursor)
        return json.dumps(self.PAGES[page_token]).encode()

    def parse(self, payload: bytes, context: StreamContext) -> PageResult:
        page = json.loads(payload)
        events = [EventIn(id=item["id"], brand_id=context.brand_id, network=context.network, kind=item["kind"],
                          actor=Actor(id=item["by"], handle=item["by"]), occurred_at=item["at"],
                          post_id=item["id"], in_reply_to=item.get("to"), text=item.get("text"))
                  for item in page["items"]]
        cursor = max((item["at"] for item in page["items"]), default=None)
        return PageResult(events=events, members=[Actor(id=m, handle=m, followers=5) for m in page.get("fans", [])],
                          next_page=page.get("next"), cursor=cursor)


class FakeConnector(Connector):
    network = "fakenet"
    title = "Fake network"
    capabilities = ("polling", "webhooks")
    Config = FakeConfig

    def streams(self) -> Sequence[Stream]:
        return [FakePosts(self)]

    def verify_webhook(self, request: WebhookRequest, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        return bool(secret) and hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), expected)

    def answer_challenge(self, request: WebhookRequest, verify_token: str) -> WebhookResponse | None:
        q = request.query
        if q.get("hub.mode") == "subscribe" and verify_token and q.get("hub.verify_token") == verify_token:
            return WebhookResponse(200, q.get("hub.challenge", "").encode())
        return None

    def webhook_stream(self) -> Stream:
        return FakePosts(self)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakePlugin:
    __name__ = "fakenet"

    @hookimpl
    def register_connectors(self, register: Any) -> None:
        register(FakeConnector)
