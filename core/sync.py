"""Running a connector's stream: fetch, parse, store, checkpoint, page after page.

Core, not the connector, stores what each page yields and checkpoints the stream's cursor
in the same transaction, so a run that dies resumes after its last committed page. A page
token seen twice in one run stops it: a network that loops would otherwise never finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta
import sqlalchemy as sa

from . import tables as t
from .connectors import Connector, PageResult, Stream, StreamContext
from .errors import NotFound
from .ingest import Batch, ingest, notify_ingested
from .members import resolve, sightings
from .runtime import Runtime
from .services.context import Caller, utcnow


class PaginationLoop(RuntimeError):
    """The network handed back a page token it had already given in this run."""


class SyncReport(msgspec.Struct, kw_only=True):
    """What a sync run (or one webhook delivery) stored."""

    connection_id: Annotated[str, Meta(max_length=32)]
    stream: Annotated[str, Meta(max_length=64)]
    pages: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    members: int = 0
    cursor: Annotated[str, Meta(max_length=200)] | None = None


def _later(a: str | None, b: str | None) -> str | None:
    return max((c for c in (a, b) if c is not None), default=None)


@dataclass(frozen=True)
class Loaded:
    """A connection row with its configured connector and its brand's own handles."""

    row: Any
    connector: Connector
    handles: dict[str, str]

    def context(self, cursor: str | None = None) -> StreamContext:
        return StreamContext(workspace_id=self.row.workspace_id, brand_id=self.row.brand_id,
                             network=self.row.network, config=self.connector.config, brand_handles=self.handles,
                             cursor=cursor)


async def load_connector(runtime: Runtime, connection_id: str, workspace_id: str | None) -> Loaded:
    """The connection (of ``workspace_id``; of any workspace for webhook intake, which has no key)."""
    query = sa.select(t.connections).where(t.connections.c.id == connection_id)
    if workspace_id is not None:
        query = query.where(t.connections.c.workspace_id == workspace_id)
    async with runtime.db.reading() as conn:
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound("connection", connection_id)
        handles = (await conn.execute(sa.select(t.brands.c.handles).where(t.brands.c.id == row.brand_id))).scalar()
    registered = runtime.registry.connectors.get(row.network)
    if registered is None:
        raise NotFound("connector", row.network)
    cls = registered.item
    return Loaded(row, cls(cls.parse_config(row.config)), dict(handles or {}))


async def run_stream(runtime: Runtime, caller: Caller, connection_id: str, stream_name: str,
                     max_pages: int = 10_000) -> SyncReport:
    """Sync one stream of a connection from its checkpoint to the last page."""
    loaded = await load_connector(runtime, connection_id, caller.workspace_id)
    row, stream = loaded.row, loaded.connector.stream(stream_name)
    cursor = (row.state or {}).get(stream_name, {}).get("cursor")
    report = SyncReport(connection_id=connection_id, stream=stream_name, cursor=cursor)
    seen: set[str | None] = set()
    token: str | None = None
    while report.pages < max_pages:
        context = loaded.context(report.cursor)
        page = stream.parse(await stream.fetch(context, token), context)
        await commit_page(runtime, caller, connection_id, stream, page, report)
        seen.add(token)
        if page.next_page is None:
            break
        if page.next_page in seen:
            raise PaginationLoop(f"{row.network}/{stream_name}: page token {page.next_page!r} came back twice")
        token = page.next_page
    return report


async def commit_page(runtime: Runtime, caller: Caller, connection_id: str, stream: Stream, page: PageResult,
                      report: SyncReport) -> Batch:
    """Store one page's events and profiles and checkpoint the cursor, in one transaction."""
    async with runtime.db.transaction() as conn:
        batch = await ingest(conn, runtime.registry, caller, [msgspec.to_builtins(e) for e in page.events])
        if page.members:
            await resolve(conn, caller.workspace_id, sightings([(stream.connector.network, m) for m in page.members]),
                          utcnow())
        report.cursor = _later(report.cursor, page.cursor)
        state_row = (await conn.execute(sa.select(t.connections.c.state).where(
            t.connections.c.id == connection_id))).scalar_one()
        state = {**(state_row or {}), stream.name: {"cursor": report.cursor, "synced_at": utcnow().isoformat()}}
        await conn.execute(sa.update(t.connections).where(t.connections.c.id == connection_id).values(
            state=state, updated_at=utcnow()))
    await notify_ingested(runtime.pm, runtime.registry, caller.workspace_id, batch)
    report.pages += 1
    report.accepted += batch.result.accepted
    report.duplicates += batch.result.duplicates
    report.rejected += len(batch.result.rejected) + len(page.rejected)  # core's refusals and the connector's
    report.members += len(page.members)
    return batch
