"""Reading events: filtered pages, and an export that streams in constant memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from .. import tables as t
from ..db import Database
from ..pagination import paginate
from ..schemas.common import Page
from ..schemas.events import ActorRef, Event
from .context import Caller, Service

E, TM = t.events.c, t.tribe_members.c


class EventFilter(msgspec.Struct, kw_only=True):
    brand_id: str | None = None
    campaign_id: str | None = None
    tribe_id: str | None = None
    network: str | None = None
    kind: str | None = None
    origin: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def where(ws: str, f: EventFilter) -> list[Any]:
    """SQL conditions for a filter. ``tribe_id`` also matches the tribe's members' untagged events."""
    clauses: list[Any] = [E.workspace_id == ws]
    for name in ("brand_id", "campaign_id", "network", "kind", "origin"):
        value = getattr(f, name)
        if value is not None:
            clauses.append(getattr(E, name) == value)
    if f.tribe_id is not None:
        members = sa.select(TM.member_id).where(TM.workspace_id == ws, TM.tribe_id == f.tribe_id,
                                                 TM.source != "excluded")
        clauses.append(sa.or_(E.tribe_id == f.tribe_id, sa.and_(E.tribe_id.is_(None), E.member_id.in_(members))))
    if f.since is not None:
        clauses.append(E.occurred_at >= f.since)
    if f.until is not None:
        clauses.append(E.occurred_at < f.until)
    return clauses


def to_event(row: Any) -> Event:
    return Event(id=row.id, brand_id=row.brand_id, campaign_id=row.campaign_id, tribe_id=row.tribe_id,
                 network=row.network, kind=row.kind, origin=row.origin, paid=row.paid, member_id=row.member_id,
                 actor=ActorRef(id=row.actor_id, handle=row.actor_handle), conversation_id=row.conversation_id,
                 post_id=row.post_id, in_reply_to=row.in_reply_to, occurred_at=row.occurred_at, value=row.value,
                 text=row.text, attrs=dict(row.attrs or {}), enrichment=dict(row.enrichment or {}),
                 enrichment_errors=row.enrichment_errors, ingested_at=row.ingested_at)


class EventService(Service):
    async def list(self, f: EventFilter, *, limit: int, starting_after: str | None) -> Page[Event]:
        """Events, last ingested first."""
        query = sa.select(t.events).where(*where(self.ws, f))
        return await paginate(self.conn, query, E.seq, secret=self.caller.cursor_secret, limit=limit,
                              starting_after=starting_after, to_item=to_event, numeric=True)


async def export(db: Database, caller: Caller, f: EventFilter, chunk: int = 1000) -> AsyncIterator[bytes]:
    """NDJSON lines of the matching events, oldest first, fetched ``chunk`` rows at a time.

    Each chunk is its own short read (keyset on ``seq``), so memory stays flat and no
    transaction is held open while a slow client reads.
    """
    encoder = msgspec.json.Encoder()
    last = 0
    while True:
        async with db.reading() as conn:
            rows = (await conn.execute(sa.select(t.events).where(*where(caller.workspace_id, f), E.seq > last)
                                       .order_by(E.seq).limit(chunk))).all()
        if not rows:
            return
        last = rows[-1].seq
        yield b"".join(encoder.encode(to_event(row)) + b"\n" for row in rows)
