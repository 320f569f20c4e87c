"""Running a connector's stream: fetch, parse, store, checkpoint, page after page.

Core, not the connector, stores what each page yields and checkpoints the stream's cursor
in the same transaction, so a run that dies resumes after its last committed page. A page
token seen twice in one run stops it: a network that loops would otherwise never finish.
A connection's sync (the ``connections.sync`` job: on demand, or every ``sync_every_minutes``)
runs each of its streams so.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from . import tables as t
from .connectors import Connector, PageResult, Stream, StreamContext
from .errors import NotFound
from .ingest import Batch, ingest, notify_ingested
from .members import resolve, sightings
from .runtime import Runtime
from .jobs import JobFailed
from .schemas.connections import SyncReport
from .schemas.jobs import SyncResult
from .services.context import Caller, utcnow

log = logging.getLogger("tribeops.sync")


class ConnectionGone(NotFound):
    """The connection was deleted while it was being synced."""

    def __init__(self, connection_id: str) -> None:
        super().__init__("connection", connection_id)
        self.connection_id = connection_id


class PaginationLoop(RuntimeError):
    """The network handed back a page token it had already given in this run."""


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


# Seconds a connector has to fetch one page.
PAGE_TIMEOUT = 300.0


class PageTimeout(RuntimeError):
    """A connector's fetch of one page took longer than :data:`PAGE_TIMEOUT`."""


async def run_stream(runtime: Runtime, caller: Caller, connection_id: str, stream_name: str,
                     max_pages: int = 10_000, report: SyncReport | None = None, from_start: bool = False
                     ) -> SyncReport:
    """Sync one stream of a connection from its checkpoint (or ``from_start``, as if it had none)
    to the last page. ``report`` (else a new one) counts what each committed page stored: if a
    page fails, what came before."""
    loaded = await load_connector(runtime, connection_id, caller.workspace_id)
    row, stream = loaded.row, loaded.connector.stream(stream_name)
    cursor = None if from_start else (row.state or {}).get(stream_name, {}).get("cursor")
    report = report or SyncReport(connection_id=connection_id, stream=stream_name)
    report.cursor = cursor
    seen: set[str | None] = set()
    token: str | None = None
    while report.pages < max_pages:
        context = loaded.context(report.cursor)
        try:
            payload = await asyncio.wait_for(stream.fetch(context, token), PAGE_TIMEOUT)
        except asyncio.TimeoutError:
            raise PageTimeout(f"page {report.pages + 1} was not fetched within {PAGE_TIMEOUT:g} s") from None
        page = stream.parse(payload, context)
        await commit_page(runtime, caller, connection_id, stream, page, report)
        seen.add(token)
        if page.next_page is None:
            break
        if page.next_page in seen:
            raise PaginationLoop(f"{row.network}/{stream_name}: page token {page.next_page!r} came back twice")
        token = page.next_page
    return report


async def sync_connection(runtime: Runtime, workspace_id: str, connection_id: str,
                          stream: str | None = None, from_start: bool = False) -> dict[str, Any]:
    """A connection's sync: each of its streams (``stream`` alone, if given) from its checkpoint
    (or ``from_start``) to its last page; the result is a :class:`~tribeops.core.schemas.jobs.SyncResult`. A stream
    that fails (the network down, a payload the connector refuses) stops at the page that failed:
    the pages before it stay stored and checkpointed, the next sync resumes after them, and the
    other streams still run. Then the job fails with one error per failed stream, naming the
    plugin, the network and the stream, and its result says what was stored."""
    caller = Caller(workspace_id=workspace_id, cursor_secret="")
    try:
        loaded = await load_connector(runtime, connection_id, workspace_id)
    except NotFound as exc:
        if exc.kind == "connection":
            raise JobFailed([f"The connection {connection_id} was deleted before this sync ran."]) from None
        raise
    network = loaded.row.network
    plugin = runtime.registry.connectors[network].plugin
    names = [stream] if stream else [s.name for s in loaded.connector.streams()]
    reports, errors = [], []
    for name in names:
        report = SyncReport(connection_id=connection_id, stream=name)
        reports.append(report)
        try:
            await run_stream(runtime, caller, connection_id, name, report=report, from_start=from_start)
        except ConnectionGone:
            errors.append(f"The connection {connection_id} was deleted during this sync, at {network}/{name}: "
                          "the pages stored before stay.")
            break
        except Exception as exc:  # noqa: BLE001 - the plugin's failure, recorded on the job
            log.warning("%s: sync of %s/%s (connection %s) failed", plugin, network, name, connection_id,
                        exc_info=True)
            errors.append(f"{plugin}: {network}/{name}: {type(exc).__name__}: {exc}")
    result = msgspec.to_builtins(SyncResult(connection_id=connection_id, streams=reports))
    if errors:
        raise JobFailed(errors, result)
    return result


async def commit_page(runtime: Runtime, caller: Caller, connection_id: str, stream: Stream, page: PageResult,
                      report: SyncReport) -> Batch:
    """Store one page's events and profiles and checkpoint the cursor, in one transaction."""
    cursor = _later(report.cursor, page.cursor)
    async with runtime.db.transaction() as conn:
        batch = await ingest(conn, runtime.registry, caller, [msgspec.to_builtins(e) for e in page.events])
        if page.members:
            await resolve(conn, caller.workspace_id, sightings([(stream.connector.network, m) for m in page.members]),
                          utcnow())
        found = (await conn.execute(sa.select(t.connections.c.state).where(
            t.connections.c.id == connection_id))).first()
        if found is None:  # deleted meanwhile: nothing of the page is kept
            raise ConnectionGone(connection_id)
        state = found.state or {}
        checkpoint = _later(state.get(stream.name, {}).get("cursor"), cursor)  # never back (a sync from the start)
        state = {**state, stream.name: {"cursor": checkpoint, "synced_at": utcnow().isoformat()}}
        await conn.execute(sa.update(t.connections).where(t.connections.c.id == connection_id).values(
            state=state, updated_at=utcnow()))
    report.cursor = cursor  # once the page is stored
    await notify_ingested(runtime.pm, runtime.registry, caller.workspace_id, batch)
    report.pages += 1
    report.accepted += batch.result.accepted
    report.duplicates += batch.result.duplicates
    report.rejected += len(batch.result.rejected) + len(page.rejected)  # core's refusals and the connector's
    report.members += len(page.members)
    return batch
