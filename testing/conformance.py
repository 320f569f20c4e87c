"""The conformance suite every connector author can run, after the Singer SDK's standard tests.

    from tribeops.testing.conformance import assert_connector_conforms

    def test_my_connector_conforms():
        assert_connector_conforms(MyConnector, {"token": "x"}, [Path("page1.json").read_bytes()])

Why: core trusts a connector's pages blindly once stored (ids are dedupe keys forever, the
cursor is checkpointed), so the contract is checked on recorded payloads before any
network is involved. Each failed check raises ``AssertionError`` naming the connector and
the check; the first failure stops the suite.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from tribeops.core.connectors import Connector, PageResult, PayloadError, Stream, StreamContext, WebhookRequest
from tribeops.core.errors import ValidationFailed
from tribeops.core.schemas.events import Actor, EventIn
from tribeops.core.validation import convert

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CAPABILITIES = frozenset({"polling", "webhooks", "files"})
GARBAGE: tuple[bytes, ...] = (b"", b"not a feed", random.Random(4685).randbytes(512), b"\x00\xff\xfe" * 50)
WebhookSample = tuple[WebhookRequest, str]
"""A request the network signed, and the secret it was signed with."""


def _check(condition: object, where: str, message: str) -> None:
    if not condition:
        raise AssertionError(f"{where}: {message}")


def check_class(cls: type[Connector], config: dict[str, Any]) -> Any:
    """Class attributes, the config type and its schema; returns the parsed config."""
    where = getattr(cls, "__name__", repr(cls))
    _check(isinstance(cls, type) and issubclass(cls, Connector), where, "is not a Connector subclass")
    network = getattr(cls, "network", None)
    _check(isinstance(network, str) and NAME.match(network), where, f"network {network!r} must match {NAME.pattern}")
    _check(isinstance(getattr(cls, "title", None), str) and cls.title.strip(), where, "title must be a non-empty str")
    caps = getattr(cls, "capabilities", ())
    _check(caps and set(caps) <= CAPABILITIES, where, f"capabilities {caps!r} must be a non-empty subset of "
           f"{sorted(CAPABILITIES)}")
    _check(isinstance(getattr(cls, "Config", None), type) and issubclass(cls.Config, msgspec.Struct), where,
           "Config must be a msgspec.Struct")
    try:
        json.dumps(cls.config_schema())
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{where}: config_schema() is not JSON-serialisable: {exc}") from None
    try:
        parsed = cls.parse_config(config)
    except ValidationFailed as exc:
        raise AssertionError(f"{where}: the sample config is refused: {_errors(exc)}") from None
    try:
        cls.parse_config({**config, "zz_not_a_config_field": 1})
    except ValidationFailed:
        return parsed
    raise AssertionError(f"{where}: parse_config accepts an unknown field (use forbid_unknown_fields=True)")


def check_streams(connector: Connector) -> list[Stream]:
    """Streams: some, uniquely named, each with a key, each really able to parse."""
    where = type(connector).__name__
    streams = list(connector.streams())
    _check(streams, where, "streams() is empty")
    names = [getattr(s, "name", None) for s in streams]
    _check(len(set(names)) == len(names), where, f"stream names are not unique: {names}")
    for stream in streams:
        _check(isinstance(stream.name, str) and NAME.match(stream.name), where, f"stream name {stream.name!r}")
        _check(isinstance(stream.key, str) and stream.key, f"{where}/{stream.name}", "stream has no key")
        _check(type(stream).parse is not Stream.parse, f"{where}/{stream.name}", "parse() is not implemented")
    if "polling" in connector.capabilities:
        _check(any(type(s).fetch is not Stream.fetch for s in streams), where, "polling but no stream has fetch()")
    return streams


def check_page(result: object, context: StreamContext, stream: Stream, where: str) -> PageResult:
    """One parsed page: the type, each event valid as core's ingest sees it, ids unique, the cursor."""
    _check(isinstance(result, PageResult), where, f"parse() returned {type(result).__name__}, not a PageResult")
    assert isinstance(result, PageResult)
    keys: set[Any] = set()
    for index, event in enumerate(result.events):
        at = f"{where}, event {index}"
        _check(isinstance(event, EventIn), at, f"is a {type(event).__name__}, not an EventIn")
        try:
            convert(msgspec.to_builtins(event), EventIn)
        except ValidationFailed as exc:
            raise AssertionError(f"{at} ({event.id!r}) is not a valid EventIn: {_errors(exc)}") from None
        _check(event.brand_id == context.brand_id, at, f"brand_id {event.brand_id!r} is not the context's")
        key = getattr(event, stream.key, None)
        _check(key is not None and key not in keys, at, f"{stream.key} {key!r} is missing or repeated in the page")
        keys.add(key)
    for member in result.members:
        _check(isinstance(member, Actor), where, f"member {member!r} is not an Actor")
        try:
            convert(msgspec.to_builtins(member), Actor)
        except ValidationFailed as exc:
            raise AssertionError(f"{where}: member {member.id!r} is not a valid Actor: {_errors(exc)}") from None
    _check(result.next_page is None or isinstance(result.next_page, str), where, "next_page must be str or None")
    field = stream.cursor_field
    values = [v for e in result.events if (v := getattr(e, field or "", None)) is not None]
    if field and values:
        highest, cursor = max(values), result.cursor
        if isinstance(highest, datetime):
            same = cursor is not None and _moment(cursor) == highest
        else:
            same = cursor == str(highest)
        shown = highest.isoformat() if isinstance(highest, datetime) else repr(highest)
        _check(same, where, f"cursor {cursor!r} is not the max {field} of the page's events ({shown})")
    rejected = getattr(result, "rejected", [])
    _check(len(rejected) <= 100 and all(isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int)
                                        and isinstance(item[1], str) and len(item[1]) <= 500 for item in rejected),
           where, "rejected must hold at most 100 (position: int, reason: str <= 500 chars) pairs")
    return result


def _errors(exc: ValidationFailed) -> str:
    return "; ".join(f"{e.pointer or '(root)'}: {e.message}" for e in exc.errors)


def _moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def check_garbage(stream: Stream, context: StreamContext, where: str) -> None:
    """Payloads the network never sends must raise PayloadError: not crash, not pass as an empty page."""
    for payload in GARBAGE:
        try:
            result = stream.parse(payload, context)
        except PayloadError:
            continue
        except Exception as exc:  # noqa: BLE001 - naming the wrong exception is the point
            raise AssertionError(f"{where}: garbage {payload[:20]!r} raised {type(exc).__name__}: {exc} "
                                 "instead of PayloadError") from None
        raise AssertionError(f"{where}: garbage {payload[:20]!r} was accepted ({result!r:.200}); raise PayloadError")


def check_webhooks(connector: Connector, context: StreamContext, samples: Sequence[WebhookSample]) -> None:
    """A signed sample verifies; the same request with its body or secret changed does not; its body parses."""
    where = f"{type(connector).__name__} webhooks"
    stream = connector.webhook_stream()
    for index, (request, secret) in enumerate(samples):
        at = f"{where}, sample {index}"
        _check(connector.verify_webhook(request, secret), at, "a correctly signed request does not verify")
        tampered = WebhookRequest(request.method, request.headers, request.query, request.body + b" ")
        _check(not connector.verify_webhook(tampered, secret), at, "a request with a changed body verifies")
        _check(not connector.verify_webhook(request, secret + "x"), at, "a request verifies with the wrong secret")
        check_page(stream.parse(request.body, context), context, stream, at)


def assert_connector_conforms(connector_cls: type[Connector], config: dict[str, Any],
                              pages: Sequence[bytes] | Mapping[str, Sequence[bytes]], *,
                              brand_id: str = "brd_01JD0000000000000000000000",
                              brand_handles: Mapping[str, str] | None = None,
                              webhook_samples: Sequence[WebhookSample] | None = None) -> None:
    """Run every check on ``connector_cls`` with ``config`` and recorded raw ``pages``.

    ``pages`` is a list parsed by every stream, or a mapping from stream name to the pages
    of that stream. Ids must be unique within a stream across all its pages. Webhook checks
    run when the connector takes webhooks and ``webhook_samples`` are given.
    """
    parsed = check_class(connector_cls, config)
    connector = connector_cls(parsed)
    streams = {s.name: s for s in check_streams(connector)}
    by_stream = dict(pages) if isinstance(pages, Mapping) else {name: list(pages) for name in streams}
    context = StreamContext(workspace_id="wks_conformance", brand_id=brand_id, network=connector_cls.network,
                            config=parsed, brand_handles=dict(brand_handles or {}))
    for name, payloads in by_stream.items():
        _check(name in streams, connector_cls.__name__, f"pages given for unknown stream {name!r}")
        stream, seen = streams[name], set[Any]()
        _check(payloads, f"{connector_cls.__name__}/{name}", "no recorded page to check")
        for number, payload in enumerate(payloads, start=1):
            where = f"{connector_cls.__name__}/{name}, page {number}"
            try:
                first = stream.parse(payload, context)
            except Exception as exc:  # noqa: BLE001
                raise AssertionError(f"{where}: parse() raised {type(exc).__name__}: {exc}") from None
            check_page(first, context, stream, where)
            again = stream.parse(payload, context)
            _check(msgspec.json.encode(first) == msgspec.json.encode(again), where,
                   "parsing the same payload twice gives different results (ids must be stable)")
            keys = {getattr(e, stream.key) for e in first.events}
            _check(not keys & seen, where, f"{stream.key}s repeat an earlier page: {sorted(map(str, keys & seen))}")
            seen |= keys
    for name, stream in streams.items():
        check_garbage(stream, context, f"{connector_cls.__name__}/{name}")
    if "webhooks" in connector.capabilities and webhook_samples:
        check_webhooks(connector, context, webhook_samples)
