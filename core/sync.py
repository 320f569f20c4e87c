"""Running a connector's stream: fetch, parse, store, checkpoint, page after page.

Core, not the connector, stores what each page yields and checkpoints the stream's cursor
in the same transaction, so a run that dies resumes after its last committed page. A page
token seen twice in one run stops it: a network that loops would otherwise never finish.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta
import sqlalchemy as sa

from . import tables as t
from .connectors import Connector, PageResult, Stream, StreamContext
from .errors import NotFound
from .ingest import Batch, ingest, notify_ingested
from .members import resolve
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


async def load_connector(runtime: Runtime, caller: Caller, connection_id: str) -> tuple[Any, Connector]:
    """The connection row and its configured connector."""
    async with runtime.db.reading() as conn:
        row = (await conn.execute(sa.select(t.connections).where(
            t.connections.c.workspace_id == caller.workspace_id, t.connections.c.id == connection_id))).first()
        if row is None:
            raise NotFound("connection", connection_id)
        handles = (await conn.execute(sa.select(t.brands.c.handles).where(t.brands.c.id == row.brand_id))).scalar()
    registered = runtime.registry.connectors.get(row.network)
    if registered is None:
        raise NotFound("connector", row.network)
    cls = registered.item
    return (row, dict(handles or {})), cls(cls.parse_config(row.config))


async def run_stream(runtime: Runtime, caller: Caller, connection_id: str, stream_name: str,
                     max_pages: int = 10_000) -> SyncReport:
    """Sync one stream of a connection from its checkpoint to the last page."""
    (row, handles), connector = await load_connector(runtime, caller, connection_id)
    stream = connector.stream(stream_name)
    cursor = (row.state or {}).get(stream_name, {}).get("cursor")
    report = SyncReport(connection_id=connection_id, stream=stream_name, cursor=cursor)
    seen: set[str | None] = set()
    token: str | None = None
    while report.pages < max_pages:
        context = StreamContext(workspace_id=caller.workspace_id, brand_id=row.brand_id, network=row.network,
                                config=connector.config, brand_handles=handles, cursor=report.cursor)
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
            await resolve(conn, caller.workspace_id, [(stream.connector.network, m) for m in page.members], utcnow())
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
