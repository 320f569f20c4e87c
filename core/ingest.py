"""Batch ingestion of KPI events: every valid item stored once, every bad one explained.

Each item is checked on its own; a bad neighbour never costs a valid event. Dedupe is
the database's: ``INSERT ... ON CONFLICT DO NOTHING`` on (workspace, id), so concurrent
identical batches store each event once. Plugins' enrichers run on every new event,
isolated; what they raise is recorded on the event, never returned as an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncConnection

from . import bulk
from . import tables as t
from .errors import FieldError, ValidationFailed
from .members import resolve
from .membership import join, load_rules, matches
from .plugins import Registry
from .safety import PluginFailure, call, notify
from .schemas.events import EventIn
from .services.context import Caller, utcnow
from .validation import collect_errors

MAX_BATCH = 1000
FUTURE_LIMIT = timedelta(days=1)
DISCLOSURE = re.compile(
    r"(?<!\w)#(ad|ads|adv|advertising|advertisement|sponsored|sponsor|sponsorizzato|sponsorizzata|"
    r"pubblicita|pubblicità|paidpartnership|partnership|collab|gifted)(?!\w)",
    re.IGNORECASE,
)


class Rejection(msgspec.Struct, kw_only=True):
    """A batch item that was not stored: its position, its id if it had one, and why."""

    index: Annotated[int, Meta(ge=0, le=MAX_BATCH)]
    id: Annotated[str, Meta(max_length=200)] | None
    errors: Annotated[list[FieldError], Meta(max_length=200)]


class IngestResult(msgspec.Struct, kw_only=True):
    """``accepted``: newly stored; ``duplicates``: ids already known; ``rejected``: the rest, explained."""

    accepted: Annotated[int, Meta(ge=0)]
    duplicates: Annotated[int, Meta(ge=0)]
    rejected: Annotated[list[Rejection], Meta(max_length=MAX_BATCH)]


@dataclass
class Batch:
    """What one transaction stored: the result plus what the notification needs."""

    result: IngestResult
    new_ids: list[str] = field(default_factory=list)
    brand_ids: list[str] = field(default_factory=list)


def normalise_handle(handle: str | None) -> str:
    return (handle or "").strip().lstrip("@").lower()


async def ingest(conn: AsyncConnection, registry: Registry, caller: Caller, items: Sequence[Any]) -> Batch:
    """Store ``items`` (decoded JSON) in the caller's workspace, inside ``conn``'s transaction."""
    now = utcnow()
    rejected: list[Rejection] = []
    valid: list[tuple[int, EventIn]] = []
    for index, raw in enumerate(items):
        try:  # the common case, valid, costs one msgspec conversion; only bad items are walked
            valid.append((index, msgspec.convert(raw, EventIn, strict=False)))
        except msgspec.ValidationError:
            errors = collect_errors(raw, EventIn) or [FieldError("", "Not a valid event.")]
            rejected.append(Rejection(index=index, id=_raw_id(raw), errors=errors))
    refs = await _references(conn, caller.workspace_id, [e for _, e in valid])
    kinds = registry.kinds()
    events: list[tuple[int, EventIn]] = []
    for index, event in valid:
        errors = _semantic_errors(event, refs, kinds, now)
        if errors:
            rejected.append(Rejection(index=index, id=event.id, errors=errors))
        else:
            events.append((index, event))
    rejected.sort(key=lambda r: r.index)
    unique: dict[str, EventIn] = {}
    for _, event in sorted(events, key=lambda pair: pair[1].id):  # one insert order: no deadlocks
        unique.setdefault(event.id, event)
    new_ids = await _store(conn, registry, caller.workspace_id, list(unique.values()), refs["brands"], now)
    brand_ids = sorted({unique[i].brand_id for i in new_ids})
    result = IngestResult(accepted=len(new_ids), duplicates=len(events) - len(new_ids), rejected=rejected)
    return Batch(result, new_ids, brand_ids)


async def notify_ingested(pm: Any, registry: Registry, workspace_id: str, batch: Batch) -> None:
    """Tell plugins about the new events (after commit); failures are recorded, not raised."""
    if not batch.new_ids:
        return
    for failure in await notify(pm, "events_ingested", workspace_id=workspace_id, brand_ids=batch.brand_ids,
                                event_ids=batch.new_ids):
        registry.record_error(failure.plugin, str(failure))


def envelope(raw: Any) -> list[Any]:
    """The items of a ``{"events": [...]}`` body; a malformed envelope stores nothing."""
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("", 'Expected an object: {"events": [...]}.')])
    errors = [FieldError(f"/{k}", "Unknown field; remove it (fields are checked strictly).") for k in raw
              if k != "events"]
    items = raw.get("events")
    if not isinstance(items, list):
        errors.append(FieldError("/events", "Required: an array of events."))
    elif not 1 <= len(items) <= MAX_BATCH:
        errors.append(FieldError("/events", f"Send 1 to {MAX_BATCH} events per batch, not {len(items)}."))
    if errors:
        raise ValidationFailed(errors)
    return list(items)


def _raw_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value[:200] if isinstance(value, str) else None


async def _references(conn: AsyncConnection, ws: str, events: list[EventIn]) -> dict[str, dict[str, Any]]:
    """The caller's brands (with handles), campaigns and tribes the batch names, in three queries."""
    brand_ids = {e.brand_id for e in events}
    campaign_ids = {e.campaign_id for e in events if e.campaign_id}
    tribe_ids = {e.tribe_id for e in events if e.tribe_id}
    brands = {r.id: {net: normalise_handle(h) for net, h in (r.handles or {}).items()} for r in await conn.execute(
        sa.select(t.brands.c.id, t.brands.c.handles).where(t.brands.c.workspace_id == ws,
                                                           t.brands.c.id.in_(brand_ids)))} if brand_ids else {}
    campaigns = {r.id: r.brand_id for r in await conn.execute(sa.select(t.campaigns.c.id, t.campaigns.c.brand_id).where(
        t.campaigns.c.workspace_id == ws, t.campaigns.c.id.in_(campaign_ids)))} if campaign_ids else {}
    tribes = {r.id: r.brand_id for r in await conn.execute(sa.select(t.tribes.c.id, t.tribes.c.brand_id).where(
        t.tribes.c.workspace_id == ws, t.tribes.c.id.in_(tribe_ids)))} if tribe_ids else {}
    return {"brands": brands, "campaigns": campaigns, "tribes": tribes}


def _semantic_errors(event: EventIn, refs: dict[str, dict[str, Any]], kinds: set[str],
                     now: datetime) -> list[FieldError]:
    errors = []
    if event.brand_id not in refs["brands"]:
        errors.append(FieldError("/brand_id", f"No brand with id {event.brand_id!r} in this workspace."))
    for field_name, table in (("campaign_id", "campaigns"), ("tribe_id", "tribes")):
        value = getattr(event, field_name)
        if value and refs[table].get(value) != event.brand_id:
            errors.append(FieldError(f"/{field_name}", f"No {table[:-1]} {value!r} of brand {event.brand_id!r}."))
    if event.kind not in kinds:
        errors.append(FieldError("/kind", f"Unknown event kind {event.kind!r}; known: {', '.join(sorted(kinds))}."))
    if event.occurred_at > now + FUTURE_LIMIT:
        errors.append(FieldError("/occurred_at", "More than a day in the future."))
    return errors


async def _store(conn: AsyncConnection, registry: Registry, ws: str, events: list[EventIn],
                 brands: dict[str, dict[str, str]], now: datetime) -> list[str]:
    if not events:
        return []
    members = await resolve(conn, ws, [(e.network, e.actor) for e in events], now)
    rules = await load_rules(conn, ws, brands)
    joined = {(tribe, members[(e.network, e.actor.id)]) for e in events for tribe in matches(rules, e)}
    await join(conn, ws, joined, now)
    rows = []
    for event in events:
        handles = brands[event.brand_id]
        origin = "brand" if normalise_handle(event.actor.handle or event.actor.id) in (
            {handles[event.network]} if event.network in handles else set()) else "member"
        row = _row(event, ws, origin, members[(event.network, event.actor.id)], now)
        row["enrichment"], row["enrichment_errors"] = await _enrich(registry, row, event)
        rows.append(row)
    inserted = await bulk.insert(conn, "events", EVENT_COLUMNS, [tuple(row[c] for c in EVENT_COLUMNS) for row in rows],
                                 conflict=("workspace_id", "id"), returning=("id",))
    return [event_id for (event_id,) in inserted]


EVENT_COLUMNS = ("workspace_id", "id", "brand_id", "campaign_id", "tribe_id", "network", "kind", "origin", "paid",
                 "member_id", "actor_id", "actor_handle", "conversation_id", "post_id", "in_reply_to", "occurred_at",
                 "value", "text", "attrs", "enrichment", "enrichment_errors", "ingested_at")


def _row(event: EventIn, ws: str, origin: str, member_id: str, now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": ws, "id": event.id, "brand_id": event.brand_id, "campaign_id": event.campaign_id,
        "tribe_id": event.tribe_id, "network": event.network, "kind": event.kind, "origin": origin,
        "paid": bool(event.paid or (event.text and DISCLOSURE.search(event.text))), "member_id": member_id,
        "actor_id": event.actor.id, "actor_handle": event.actor.handle, "conversation_id": event.conversation_id,
        "post_id": event.post_id, "in_reply_to": event.in_reply_to, "occurred_at": event.occurred_at,
        "value": event.value, "text": event.text, "attrs": event.attrs, "ingested_at": now,
    }


async def _enrich(registry: Registry, row: dict[str, Any], event: EventIn) -> tuple[dict[str, Any], list[str] | None]:
    if not registry.enrichers:
        return {}, None
    view = {**msgspec.to_builtins(event), "origin": row["origin"], "paid": row["paid"]}
    added: dict[str, Any] = {}
    errors: list[str] = []
    for name, registered in registry.enrichers.items():
        result = await call(registered.plugin, f"enricher {name!r}", registered.item.enrich, view,
                            timeout=registered.item.timeout)
        if isinstance(result, PluginFailure):
            errors.append(str(result))
        elif isinstance(result, dict):
            added.update(msgspec.to_builtins(result))
        elif result is not None:
            errors.append(f"{registered.plugin}: enricher {name!r} returned {type(result).__name__}, not a mapping")
    return added, errors or None
