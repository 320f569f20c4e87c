"""Built-in connector ``csv``: CSV or NDJSON exports from any tool, mapped to KPI events by configuration.

Why: every tool can export a table, and a declared mapping turns it into events with no code.
``columns`` names, for each event field, the CSV header (or NDJSON key; a dotted path such
as ``user.id`` reaches into nested objects) it comes from; ``constants`` gives a value for
the whole file, e.g. ``{"network": "discourse", "kind": "comment"}``. A non-empty cell wins
over a constant. ``id`` and ``occurred_at`` must be columns; ``kind`` and ``actor_id`` may be
either. ``network`` defaults to ``csv``. ``attrs`` maps attribute names to columns (strings
are cut at 1000 characters). Timestamps are RFC 3339 unless ``timestamp_format`` says
``unix``, ``unix_ms`` or a strptime format; times without an offset are in ``timezone``.

Bad rows: a row that cannot become a valid event (an unreadable date, an invalid kind, an
id already seen in the file...) is skipped and reported in ``PageResult.rejected`` as
``(row, reason)``; the good rows are kept. Rows are numbered as a spreadsheet shows them
(the header is row 1), NDJSON lines from 1; the first 100 are reported. A payload that is
not such a file at all (empty, not in ``encoding``, a header without the mapped columns, no
JSON object on any line) raises ``PayloadError``: none of it could be right.

Origin is computed by core from ``actor_handle`` against the brand's handle on the event's
network. The cursor is the page's latest ``occurred_at``, RFC 3339 UTC, fixed width.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

from tribeops.core.plugin_api import Connector, EventIn, PageResult, PayloadError, Stream, StreamContext, hookimpl

Target = Literal["id", "kind", "occurred_at", "actor_id", "actor_handle", "actor_name", "text", "post_id",
                 "in_reply_to", "conversation_id", "value", "paid", "campaign_id", "tribe_id", "network"]
Column = Annotated[str, Meta(min_length=1, max_length=200)]
# The fields a column or a constant may fill, stated in the configuration's schema (msgspec
# leaves a dict's key type out of it).
TARGETS = Meta(extra_json_schema={"propertyNames": {"enum": list(Target.__args__)}})
MAX_REJECTED = 100
Record = Iterator[tuple[int, "dict[str, Any] | str"]]


class CsvConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How the file is written and which column becomes which event field."""

    columns: Annotated[dict[Target, Column], Meta(max_length=15, description="Event field -> column or key."),
                       TARGETS]
    constants: Annotated[dict[Target, Annotated[str, Meta(max_length=1000)]], Meta(
        max_length=15, description="Event field -> value for every row."), TARGETS] = {}
    attrs: Annotated[dict[Annotated[str, Meta(min_length=1, max_length=64)], Column], Meta(
        max_length=50, description="Attribute name -> column or key.")] = {}
    format: Literal["csv", "ndjson"] = "csv"
    delimiter: Annotated[str, Meta(min_length=1, max_length=1)] = ","
    encoding: Literal["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"] = "utf-8-sig"
    timestamp_format: Annotated[str, Meta(min_length=1, max_length=100, description=(
        "None for RFC 3339, 'unix', 'unix_ms' or a strptime format such as '%d/%m/%Y %H:%M'."))] | None = None
    timezone: Annotated[str, Meta(min_length=1, max_length=64, description="IANA zone of naive times.")] = "UTC"
    id_prefix: Annotated[str, Meta(max_length=50, description="Prefix of every event id, e.g. 'hubspot:'.")] = ""

    def __post_init__(self) -> None:
        for target in ("id", "occurred_at"):
            if target not in self.columns:
                raise ValueError(f"columns must map {target!r}")
        for target in ("kind", "actor_id"):
            if target not in self.columns and target not in self.constants:
                raise ValueError(f"{target!r} needs a column or a constant")
        if self.timestamp_format not in (None, "unix", "unix_ms") and "%" not in self.timestamp_format:
            raise ValueError("timestamp_format must be 'unix', 'unix_ms' or a strptime format")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone") from None


def _lookup(record: dict[str, Any], path: str) -> Any:
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _timestamp(value: Any, config: CsvConfig) -> datetime:
    text = str(value).strip()
    try:
        if config.timestamp_format in ("unix", "unix_ms"):
            seconds = float(text) / (1000 if config.timestamp_format == "unix_ms" else 1)
            return datetime.fromtimestamp(seconds, timezone.utc)
        moment = (datetime.strptime(text, config.timestamp_format) if config.timestamp_format
                  else datetime.fromisoformat(text))
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"occurred_at {text[:50]!r} does not match {config.timestamp_format or 'RFC 3339'}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(config.timezone))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def to_event(record: dict[str, Any], config: CsvConfig, context: StreamContext) -> EventIn:
    """One row as an event; ``ValueError`` (or msgspec's) says what is wrong with it."""
    def get(target: str) -> Any:
        column = config.columns.get(target)  # type: ignore[call-overload]
        value = None if column is None else _lookup(record, column)
        return config.constants.get(target) if value in (None, "") else value  # type: ignore[call-overload]

    raw_id = _text(get("id"))
    if raw_id is None:
        raise ValueError(f"no id in column {config.columns['id']!r}")
    moment = get("occurred_at")
    if moment in (None, ""):
        raise ValueError(f"no occurred_at in column {config.columns['occurred_at']!r}")
    attrs: dict[str, Any] = {}
    for name, column in config.attrs.items():
        value = _lookup(record, column)
        if value not in (None, ""):  # numbers stay numbers (NDJSON); the rest becomes text of <= 1000 chars
            attrs[name] = value if isinstance(value, (bool, int, float)) else (_text(value) or "")[:1000]
    raw: dict[str, Any] = {
        "id": config.id_prefix + raw_id, "brand_id": context.brand_id, "attrs": attrs,
        "network": _text(get("network")) or context.network, "kind": (_text(get("kind")) or "").strip().lower(),
        "occurred_at": _timestamp(moment, config),
        "actor": {"id": _text(get("actor_id")), "handle": _text(get("actor_handle")), "name": _text(get("actor_name"))},
    }
    for target in ("text", "post_id", "in_reply_to", "conversation_id", "campaign_id", "tribe_id"):
        raw[target] = _text(get(target))
    for target in ("value", "paid"):
        if get(target) not in (None, ""):
            raw[target] = get(target)
    return msgspec.convert(raw, EventIn, strict=False)


def _csv_records(text: str, config: CsvConfig) -> Record:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=config.delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise PayloadError(f"no readable CSV header row: {exc}") from None
    needed = [c for c in [*config.columns.values(), *config.attrs.values()] if c not in header]
    if needed:
        raise PayloadError(f"the header lacks mapped column(s) {needed}; it has {header[:20]}")
    row, errors = 1, 0
    while True:
        row += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors += 1
            if errors > 1000:
                raise PayloadError(f"too many unreadable CSV rows: {exc}") from None
            yield row, f"unreadable CSV row: {exc}"
            continue
        if any(cell.strip() for cell in cells):
            yield row, (dict(zip(header, cells)) if len(cells) == len(header)
                        else f"{len(cells)} cells but the header has {len(header)}")


def _ndjson_records(text: str) -> Record:
    objects = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield line_number, f"not JSON: {exc}"
                continue
            objects += isinstance(record, dict)
            yield line_number, record if isinstance(record, dict) else "not a JSON object"
    if not objects:
        raise PayloadError("no line of the payload is a JSON object: not NDJSON")


class RowsStream(Stream):
    """The rows of one uploaded file: a file is one page, so there is never a next page."""

    name = "rows"

    def parse(self, payload: bytes, context: StreamContext) -> PageResult:
        config: CsvConfig = context.config
        try:
            text = payload.decode(config.encoding)
        except UnicodeDecodeError as exc:
            raise PayloadError(f"not {config.encoding} text: {exc}") from None
        if not text.strip():
            raise PayloadError("empty file")
        records: Record = _ndjson_records(text) if config.format == "ndjson" else _csv_records(text, config)
        events: list[EventIn] = []
        rejected: list[tuple[int, str]] = []
        ids: set[str] = set()

        def reject(position: int, why: str) -> None:
            if len(rejected) < MAX_REJECTED:
                rejected.append((position, why[:500]))

        for position, record in records:
            if isinstance(record, str):
                reject(position, record)
                continue
            try:
                event = to_event(record, config, context)
            except (ValueError, msgspec.ValidationError) as exc:
                reject(position, str(exc))
                continue
            if event.id in ids:
                reject(position, f"id {event.id!r} repeats an earlier row")
                continue
            ids.add(event.id)
            events.append(event)
        latest = max((e.occurred_at for e in events), default=None)
        return PageResult(events=events, rejected=rejected, cursor=latest.astimezone(timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ") if latest else None)


class CsvConnector(Connector):
    network = "csv"
    title = "CSV / NDJSON files"
    description = "Exports from any tool, mapped to events by a declared column mapping."
    capabilities = ("files",)
    Config = CsvConfig

    def streams(self) -> list[Stream]:
        return [RowsStream(self)]


@hookimpl
def register_connectors(register: Any) -> None:
    register(CsvConnector)
