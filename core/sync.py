"""Running a connector's stream: fetch, parse, store, checkpoint, page after page.

Core, not the connector, stores what each page yields and checkpoints the stream's cursor:
for a stream whose pages come oldest first, in the same transaction as each page, so a run
that dies resumes after its last committed page; for one read newest first (a feed), once its
last page is stored, so a run that dies reads again from the previous checkpoint instead of
skipping the older pages it had not reached (what it stored counts as duplicates). A page
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
from .jobs import JobFailed
from .runtime import Runtime
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
                     max_pages: int = 10_000, report: SyncReport | None = None, from_start: bool = False,
                     loaded: Loaded | None = None) -> SyncReport:
    """Sync one stream of a connection from its checkpoint (or ``from_start``, as if it had none)
    to the last page. ``report`` (else a new one) counts what each committed page stored: if a
    page fails, what came before. ``loaded``: the connection as a sync of its streams loaded it
    (each stream checkpoints under its own name, and a connection's syncs run one at a time)."""
    loaded = loaded or await load_connector(runtime, connection_id, caller.workspace_id)
    row, stream = loaded.row, loaded.connector.stream(stream_name)
    checkpoint = (row.state or {}).get(stream_name, {}).get("cursor")
    start = None if from_start else checkpoint
    report = report or SyncReport(connection_id=connection_id, stream=stream_name)
    report.cursor = checkpoint
    reached = start  # the highest cursor of the pages stored by this run
    seen: set[str | None] = set()
    token: str | None = None
    while report.pages < max_pages:
        # A sorted stream goes on from its last page; one read newest first, from where it started.
        context = loaded.context(reached if stream.is_sorted else start)
        try:
            payload = await asyncio.wait_for(stream.fetch(context, token), PAGE_TIMEOUT)
        except asyncio.TimeoutError:
            raise PageTimeout(f"page {report.pages + 1} was not fetched within {PAGE_TIMEOUT:g} s") from None
        page = stream.parse(payload, context)
        await commit_page(runtime, caller, connection_id, stream, page, report, checkpoint=stream.is_sorted)
        reached = _later(reached, page.cursor)
        seen.add(token)
        if page.next_page is None:
            break
        if page.next_page in seen:
            raise PaginationLoop(f"{row.network}/{stream_name}: page token {page.next_page!r} came back twice")
        token = page.next_page
    if not stream.is_sorted:  # every page is stored: the stream is read up to here
        async with runtime.db.transaction() as conn:
            report.cursor = await _checkpoint(conn, connection_id, stream_name, reached)
    return report


async def _checkpoint(conn: Any, connection_id: str, stream_name: str, cursor: str | None) -> str | None:
    """Move the stream's checkpoint to ``cursor``, never back (a sync from the start reads older
    pages again), and return it; with None, only make sure the connection is still there. A
    connection deleted meanwhile raises :class:`ConnectionGone`: the transaction keeps nothing."""
    found = (await conn.execute(sa.select(t.connections.c.state).where(t.connections.c.id == connection_id))).first()
    if found is None:
        raise ConnectionGone(connection_id)
    state = found.state or {}
    stored = state.get(stream_name, {}).get("cursor")
    if cursor is None:
        return stored
    moved = _later(stored, cursor)
    state = {**state, stream_name: {"cursor": moved, "synced_at": utcnow().isoformat()}}
    await conn.execute(sa.update(t.connections).where(t.connections.c.id == connection_id).values(
        state=state, updated_at=utcnow()))
    return moved


async def sync_connection(runtime: Runtime, workspace_id: str, connection_id: str,
                          stream: str | None = None, from_start: bool = False) -> dict[str, Any]:
    """A connection's sync: each of its streams (``stream`` alone, if given) from its checkpoint
    (or ``from_start``) to its last page; the result is a
    :class:`~tribeops.core.schemas.jobs.SyncResult`. A stream that fails (the network down, a
    payload the connector refuses) stops at the page that failed: the pages before it stay
    stored, the next sync goes on from the stream's checkpoint (see :func:`run_stream`), and the
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
            await run_stream(runtime, caller, connection_id, name, report=report, from_start=from_start,
                             loaded=loaded)
        except ConnectionGone:
            errors.append(f"The connection {connection_id} was deleted during this sync, which stopped at "
                          f"{network}/{name}.")
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
                      report: SyncReport, checkpoint: bool = True) -> Batch:
    """Store one page's events and profiles and, with ``checkpoint``, move the stream's cursor
    to the page's, in one transaction (see :attr:`~tribeops.core.connectors.Stream.is_sorted`)."""
    async with runtime.db.transaction() as conn:
        batch = await ingest(conn, runtime.registry, caller, [msgspec.to_builtins(e) for e in page.events])
        if page.members:
            await resolve(conn, caller.workspace_id, sightings([(stream.connector.network, m) for m in page.members]),
                          utcnow())
        moved = await _checkpoint(conn, connection_id, stream.name, page.cursor if checkpoint else None)
    if checkpoint:
        report.cursor = moved  # once the page is stored
    await notify_ingested(runtime.pm, runtime.registry, caller.workspace_id, batch)
    report.pages += 1
    report.accepted += batch.result.accepted
    report.duplicates += batch.result.duplicates
    report.rejected += len(batch.result.rejected) + len(page.rejected)  # core's refusals and the connector's
    report.members += len(page.members)
    return batch
