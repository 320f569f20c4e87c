"""The conformance suite passes a sound connector and rejects each kind of broken one, naming the fault."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import datetime
from typing import Any

import msgspec
import pytest

from tribeops.core.connectors import (
    Connector, PageResult, PayloadError, Stream, StreamContext, WebhookRequest,
)
from tribeops.core.schemas.events import Actor, EventIn
from tribeops.testing.conformance import assert_connector_conforms

PAGE_1 = json.dumps({"messages": [
    {"id": "m1", "from": "u1", "at": "2025-03-20T11:47:02Z", "text": "Che profumo!"},
    {"id": "m2", "from": "u2", "at": "2025-03-21T14:03:27.5Z", "text": "Cold brew recipe please"},
]}).encode()
PAGE_2 = json.dumps({"messages": [{"id": "m3", "from": "u1", "at": "2025-03-22T09:12:44Z", "text": "Grazie"}]}).encode()
SECRET = "s3cret"


class ToyConfig(msgspec.Struct, forbid_unknown_fields=True):
    account: str


class ToyStream(Stream):
    name = "messages"

    async def fetch(self, context: StreamContext, page_token: str | None) -> bytes:
        return PAGE_2 if page_token else PAGE_1

    def parse(self, payload: bytes, context: StreamContext) -> PageResult:
        try:
            messages = json.loads(payload)["messages"]
        except (ValueError, TypeError, KeyError):
            raise PayloadError("not a toy page") from None
        events = [self.event(m, context) for m in messages]
        return PageResult(events=events, cursor=self.cursor(events))

    def event(self, message: dict[str, str], context: StreamContext) -> EventIn:
        return EventIn(id=f"toy:{message['id']}", brand_id=context.brand_id, network="toy", kind="comment",
                       actor=Actor(id=message["from"]), occurred_at=datetime.fromisoformat(message["at"]),
                       text=message["text"])

    def cursor(self, events: list[EventIn]) -> str | None:
        return max((e.occurred_at for e in events), default=None).isoformat() if events else None  # type: ignore


class ToyConnector(Connector):
    network = "toy"
    title = "Toy network"
    capabilities = ("polling", "webhooks")
    Config = ToyConfig

    def streams(self) -> list[Stream]:
        return [ToyStream(self)]

    def verify_webhook(self, request: WebhookRequest, secret: str) -> bool:
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, request.headers.get("x-toy-signature", ""))

    def webhook_stream(self) -> Stream:
        return ToyStream(self)


def signed(body: bytes) -> tuple[WebhookRequest, str]:
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest("POST", {"x-toy-signature": signature}, {}, body), SECRET


def conforms(cls: type[Connector], pages: Any = (PAGE_1, PAGE_2)) -> None:
    assert_connector_conforms(cls, {"account": "aurora"}, list(pages) if isinstance(pages, tuple) else pages,
                              webhook_samples=[signed(PAGE_2)])


def broken(name: str, stream_attrs: dict[str, Any] | None = None, **attrs: Any) -> type[Connector]:
    """ToyConnector with some class attributes, or some of its stream's, replaced."""
    stream = type(f"{name}Stream", (ToyStream,), stream_attrs or {})
    return type(name, (ToyConnector,), {"streams": lambda self: [stream(self)], **attrs})


class LaxConfig(msgspec.Struct):
    account: str


counter = itertools.count()


def _garbage_is_fine(self: ToyStream, payload: bytes, context: StreamContext) -> PageResult:
    return ToyStream.parse(self, payload, context) if payload.startswith(b"{") else PageResult()


def _json_errors_leak(self: ToyStream, payload: bytes, context: StreamContext) -> PageResult:
    events = [self.event(m, context) for m in json.loads(payload)["messages"]]
    return PageResult(events=events, cursor=self.cursor(events))


BROKEN = [
    (broken("BadName", network="Toy-Net"), "network 'Toy-Net' must match"),
    (broken("BadCaps", capabilities=("polling", "email")), "capabilities"),
    (broken("NoTitle", title=""), "title"),
    (broken("Lax", Config=LaxConfig), "accepts an unknown field"),
    (broken("NoStreams", streams=lambda self: []), "streams() is empty"),
    (type("Twins", (ToyConnector,), {"streams": lambda self: [ToyStream(self), ToyStream(self)]}), "not unique"),
    (broken("WrongBrand", {"event": lambda self, m, c: msgspec.structs.replace(
        ToyStream.event(self, m, c), brand_id="brd_01JD0000000000000000000001")}), "is not the context's"),
    (broken("BadKind", {"event": lambda self, m, c: msgspec.structs.replace(ToyStream.event(self, m, c),
                                                                           kind="Comment!")}), "/kind"),
    (broken("SameIds", {"event": lambda self, m, c: msgspec.structs.replace(ToyStream.event(self, m, c),
                                                                           id="toy:same")}), "repeated in the page"),
    (broken("Unstable", {"event": lambda self, m, c: msgspec.structs.replace(ToyStream.event(self, m, c),
                                                                            id=f"toy:{next(counter)}")}),
     "twice gives different results"),
    (broken("LowCursor", {"cursor": lambda self, events: min(e.occurred_at for e in events).isoformat()}),
     "is not the max occurred_at"),
    (broken("GarbageIn", {"parse": _garbage_is_fine}), "was accepted"),
    (broken("LeakyErrors", {"parse": _json_errors_leak}), "instead of PayloadError"),
    (broken("NoFetch", {"fetch": Stream.fetch}), "polling but no stream has fetch()"),
    (broken("Gullible", verify_webhook=lambda self, request, secret: True), "changed body verifies"),
    (broken("Suspicious", verify_webhook=lambda self, request, secret: False), "does not verify"),
]


def test_a_sound_connector_conforms() -> None:
    conforms(ToyConnector)
    conforms(ToyConnector, {"messages": [PAGE_1, PAGE_2]})


@pytest.mark.parametrize(("cls", "message"), BROKEN, ids=[c.__name__ for c, _ in BROKEN])
def test_a_broken_connector_is_rejected(cls: type[Connector], message: str) -> None:
    with pytest.raises(AssertionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        conforms(cls)


def test_ids_repeating_across_pages_are_rejected() -> None:
    with pytest.raises(AssertionError, match="repeat an earlier page"):
        conforms(ToyConnector, (PAGE_1, PAGE_1))


def test_pages_for_an_unknown_stream_are_rejected() -> None:
    with pytest.raises(AssertionError, match="unknown stream 'posts'"):
        conforms(ToyConnector, {"posts": [PAGE_1]})


def test_a_config_the_connector_refuses_is_reported() -> None:
    with pytest.raises(AssertionError, match="sample config is refused: /account"):
        assert_connector_conforms(ToyConnector, {}, [PAGE_1])
